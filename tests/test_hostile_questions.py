"""Hostile questions never crash retrieval, and answers stay verbatim."""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from index.build import build_index
from retrieval.retriever import Retriever
from tests.fakes import FakeEmbedder, SEED_ARTICLE, write_config

FRAGMENTS = st.sampled_from(
    ["<b>", "</i>", "&amp;", "&", "<script>", "&#x0;", "\u202e", "\u200b", "\u200d", "\x00", "\x1b[31m",
     "🙂", "👩‍👩‍👧", "Pakistan", "TTP", "?", "\n", "\t", "ـ", "مرحبا", "שלום", " ", "<", ">", '"']
)
QUESTIONS = st.one_of(
    st.text(max_size=200),
    st.lists(FRAGMENTS, max_size=40).map("".join),
    st.builds(lambda a, n: a * n, FRAGMENTS, st.integers(1, 5000)),
)


@pytest.fixture(scope="module")
def retriever(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    config = write_config(root)
    (config.seeds.dir / "article.txt").write_text(SEED_ARTICLE.read_text(encoding="utf-8"), encoding="utf-8")
    build_index(config, FakeEmbedder())
    return Retriever.open(config, FakeEmbedder())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=QUESTIONS)
def test_any_question_gets_an_answer_or_a_refusal_never_a_crash(retriever, question):
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    answer = retriever.answer(question)
    assert answer.answered in (True, False)
    if answer.answered:
        assert answer.answer and answer.answer in text
    for extract in answer.extracts:
        assert text[extract.start : extract.end] == extract.text
