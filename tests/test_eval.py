"""The eval command: SQuAD normalisation, S@1 and P@k, question files, and a real-model run on a subset."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_config
from retrieval.evaluate import (
    EvalError,
    Question,
    contains_answer,
    evaluate,
    format_table,
    normalize_answer,
    precision_at_k,
    read_questions,
    success_at_1,
)
from retrieval.retriever import Answer, Extract

REPO = Path(__file__).resolve().parent.parent
XQUAD = REPO / "eval" / "xquad_en"


def extract(text: str) -> Extract:
    return Extract("d.txt", "D", 1, text, 0.5, 0, len(text))


def test_normalisation_drops_case_punctuation_and_articles():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffel tower"
    assert normalize_answer("an Apple, a pear") == "apple pear"
    assert normalize_answer("“Theatre” — the end") == "theatre end"


def test_contains_answer_matches_whole_words_after_normalisation():
    assert contains_answer("It was built by THE Baltic Trading Company.", ["Baltic trading company"])
    assert contains_answer("Allen had 136 sacks.", ["136"])
    assert not contains_answer("Allen had 1360 sacks.", ["136"])
    assert not contains_answer("anything", [])
    assert not contains_answer("anything", ["the"])  # normalises to nothing: never a match


def test_success_at_1_judges_the_chosen_sentence_even_when_declined():
    chosen = extract("The hall was restored in 2004.")
    answered = Answer("q", True, chosen, [extract("other")], 0.9, chosen)
    declined = Answer("q", False, None, [extract("other")], 0.1, chosen)
    assert success_at_1(answered, ["2004"]) and success_at_1(declined, ["2004"])
    assert not success_at_1(Answer("q", False), ["2004"])


def test_precision_at_k_counts_only_the_first_k_extracts_and_their_first_600_characters():
    late = extract("x " * 300 + "2004")  # the answer starts after character 600
    answer = Answer("q", True, None, [extract("no"), extract("nor"), extract("in 2004"), late])
    assert not precision_at_k(answer, ["2004"], 1)
    assert not precision_at_k(answer, ["2004"], 2)
    assert precision_at_k(answer, ["2004"], 3)
    assert not precision_at_k(Answer("q", True, None, [late]), ["2004"], 1)


def test_read_questions_reports_the_bad_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "1", "question": "Why?", "answers": ["because"]}\n{"id": "2"}\n', encoding="utf-8")
    with pytest.raises(EvalError, match=r"q\.jsonl:2"):
        read_questions(path)
    path.write_text('{"question": "Why?", "answers": []}\n', encoding="utf-8")
    assert read_questions(path) == [Question("1", "Why?", ())]


def test_read_questions_takes_squad_style_answer_objects_and_refuses_other_shapes(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "a", "question": "When?", "answers": [{"text": "1852", "answer_start": 40}, "in 1852", 1852]}\n')
    assert read_questions(path) == [Question("a", "When?", ("1852", "in 1852", "1852"))]
    path.write_text('{"id": "a", "question": "When?", "answers": [["1852"]]}\n')
    with pytest.raises(EvalError, match=r"q\.jsonl:1: .*answer must be a string"):
        read_questions(path)


def test_format_table_has_one_row_per_mode():
    from retrieval.evaluate import ModeReport

    table = format_table([ModeReport("hybrid", s_at_1=0.8123), ModeReport("bm25")])
    lines = table.splitlines()
    assert len(lines) == 4 and lines[2].startswith("| hybrid | 0.812 |") and lines[3].startswith("| bm25 |")


def _subset(tmp_path, docs=("Super_Bowl_50.txt", "Amazon_rainforest.txt"), per_doc=8):
    (tmp_path / "docs").mkdir()
    for name in docs:
        (tmp_path / "docs" / name).write_text((XQUAD / "docs" / name).read_text(encoding="utf-8"), encoding="utf-8")
    rows = [json.loads(line) for line in (XQUAD / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    chosen = [r for name in docs for r in [r for r in rows if r["doc"] == name][:per_doc]]
    (tmp_path / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chosen), encoding="utf-8")
    return tmp_path / "docs", tmp_path / "questions.jsonl"


@pytest.mark.model
def test_eval_on_an_xquad_subset_scores_all_three_modes(tmp_path, real_embedder):
    docs, questions_file = _subset(tmp_path)
    config = load_config(REPO / "config.toml")
    questions = read_questions(questions_file)
    ooc = [Question("x", "What is the boiling point of liquid nitrogen?", ())]
    reports = {r.mode: r for r in evaluate(config, real_embedder, docs, questions, ooc)}
    assert set(reports) == {"hybrid", "bm25", "dense"}
    hybrid = reports["hybrid"]
    assert hybrid.answerable == len(questions) == 16 and hybrid.out_of_corpus == 1
    # Two articles, questions written about them: the pipeline finds most answers.
    assert hybrid.s_at_1 >= 0.6 and hybrid.p_at_3 >= hybrid.p_at_1 >= hybrid.s_at_1 - 0.2
    assert hybrid.wrongly_declined <= 0.25 and hybrid.out_of_corpus_declined == 1.0
    assert 0 < hybrid.first_extract_chars <= 600 and hybrid.median_ms > 0


@pytest.mark.model
def test_eval_command_prints_a_json_report(tmp_path):
    docs, questions_file = _subset(tmp_path, docs=("Super_Bowl_50.txt",), per_doc=5)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-m", "retrieval", "eval", "--docs", str(docs), "--questions", str(questions_file), "--json"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["asked"] == 5 and set(report["modes"]) == {"hybrid", "bm25", "dense"}
    assert 0.0 <= report["modes"]["hybrid"]["s_at_1"] <= 1.0


def test_eval_command_rejects_a_missing_documents_folder(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    (tmp_path / "q.jsonl").write_text('{"question": "Why?", "answers": ["x"]}\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "retrieval", "eval", "--docs", str(tmp_path / "nope"), "--questions", str(tmp_path / "q.jsonl")],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120,
    )
    assert result.returncode == 1 and "nope does not exist" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------- the calibration collections


def test_split_halves_are_reproducible_halves_of_the_documents():
    from eval.collections import split_halves

    docs = [f"d{i}.txt" for i in range(10)]
    halves = split_halves(docs, 3)
    assert halves == split_halves(list(reversed(docs)), 3)  # the same whatever the input order
    assert all(len(h) == 5 and h <= set(docs) for h in halves)
    assert len({frozenset(h) for h in halves}) > 1


def test_calibration_collections_label_a_question_answerable_only_where_its_document_is_indexed():
    from eval.collections import dev_collections

    collections = {c.name: c for c in dev_collections(REPO / "eval")}
    fitted = {name for name, c in collections.items() if c.fit}
    assert {"split-0", "split-3", "squad5", "other43", "near-fit", "paraphrase-fit"} <= fitted
    assert not fitted & {"split-4", "split-7", "squad5-out-of-corpus", "near-check", "probes-seed", "probes-xquad", "xquad48"}
    for name in ("split-0", "split-5", "single-2", "trio-1"):
        c = collections[name]
        indexed = set(c.documents)
        assert any(answerable for _, answerable in c.questions) and any(not a for _, a in c.questions)
        for question, answerable in c.questions:
            assert answerable == (question.doc in indexed)


def test_reader_phrased_questions_on_xquad_articles_are_about_other_articles_than_the_probes():
    from eval.collections import dev_collections

    collections = {c.name: c for c in dev_collections(REPO / "eval")}
    fit = collections["paraphrase-xquad"]
    assert not collections["probes-xquad"].fit
    fit_docs = {q.doc for q, _ in fit.questions}
    assert fit_docs and not fit_docs & {q.doc for q, _ in collections["probes-xquad"].questions}
    assert any(a for _, a in fit.questions) and any(not a for _, a in fit.questions)
    for question, answerable in fit.questions:
        assert answerable == bool(question.answers)
