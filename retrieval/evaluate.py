"""Measure answer quality on a question set: ``python -m retrieval eval``.

Usage::

    python -m retrieval eval --docs eval/xquad_en/docs --questions eval/xquad_en/questions.jsonl
    python -m retrieval eval --docs eval/squad2_dev5/docs --questions eval/squad2_dev5/questions.jsonl \\
        --out-of-corpus eval/squad2_dev5/out_of_corpus.jsonl

Builds a temporary index of the documents with the configured model and settings,
asks every question in the pipeline's own (hybrid) mode and in its BM25-only and
dense-only modes, and reports per mode:

- S@1: the chosen answer sentence contains a gold answer (counted whether or not the
  bot then declines; declines are reported on their own);
- answered@1: the bot answered and the answer contains a gold answer;
- P@1, P@3: the first one / three extracts (first 600 characters of each) contain one;
- the mean length of the first extract (longer extracts contain answers by chance);
- the share of answerable questions wrongly declined, of in-corpus unanswerable
  questions (``"answers": []``) declined, and of out-of-corpus questions declined;
- the median time to answer one question: the median time of ``Retriever.answer`` with
  the question's vector ready, plus the median time to embed one question alone
  (measured on the first 50).  Questions are embedded once, in batches, and the vectors
  shared by the three modes, so the run takes minutes, not the better part of an hour.

Answers are compared after SQuAD normalisation (lower case, no punctuation, no
articles a/an/the, single spaces), as whole words: "308" does not match "3080".
"""

from __future__ import annotations

import contextlib
import json
import re
import statistics
import string
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from core.config import Config
from core.embedder import Embedder
from core.errors import DocQAError
from retrieval.retriever import MODES, Answer, Retriever

PREVIEW_CHARS = 600  # P@k looks at this much of each extract, as a reader's first glance would
ENCODE_SAMPLE = 50  # questions embedded one at a time to measure the model's share of latency

_PUNCTUATION = re.compile("[" + re.escape(string.punctuation) + "‘’“”–—…]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]  # empty: the documents do not answer it
    doc: str | None = None  # the document it was written about, when the file says


@dataclass
class ModeReport:
    """The figures for one retrieval mode; rates are shares (0..1) of the questions they count."""

    mode: str
    answerable: int = 0
    s_at_1: float = 0.0
    answered_at_1: float = 0.0
    p_at_1: float = 0.0
    p_at_3: float = 0.0
    first_extract_chars: float = 0.0
    wrongly_declined: float = 0.0
    unanswerable: int = 0
    unanswerable_declined: float | None = None
    out_of_corpus: int = 0
    out_of_corpus_declined: float | None = None
    median_ms: float = 0.0
    encode_ms: float = 0.0  # the model's share of median_ms: embedding one question


class EvalError(DocQAError):
    """A question file or documents folder the evaluation cannot use."""


class CachedEmbedder:
    """Wraps an embedder; texts embedded by ``prime`` are served from memory afterwards."""

    def __init__(self, embedder: Embedder):
        self.inner = embedder
        self.name = embedder.name
        self.dimension = embedder.dimension
        self._cache: dict[str, object] = {}

    def prime(self, texts: Sequence[str], batch_size: int = 64) -> None:
        texts = sorted(set(texts) - set(self._cache))
        for start in range(0, len(texts), 1024):
            chunk = texts[start : start + 1024]
            for text, vector in zip(chunk, self.inner.encode(chunk, batch_size=batch_size)):
                self._cache[text] = vector

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False):
        import numpy as np

        if all(t in self._cache for t in texts):
            return np.array([self._cache[t] for t in texts], dtype=np.float32).reshape(len(texts), self.dimension)
        return self.inner.encode(texts, batch_size=batch_size, progress=progress)


def single_encode_ms(embedder: Embedder, texts: Sequence[str]) -> float:
    """Median milliseconds to embed one text alone, as a live question is."""
    times = []
    for text in texts[:ENCODE_SAMPLE]:
        started = time.perf_counter()
        embedder.encode([text])
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000 if times else 0.0


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and articles, collapse whitespace."""
    text = _PUNCTUATION.sub(" ", text.lower())
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """Whether ``text`` contains any of ``answers`` as whole words, after normalisation."""
    haystack = f" {normalize_answer(text)} "
    return any((needle := normalize_answer(a)) and f" {needle} " in haystack for a in answers)


def success_at_1(answer: Answer, answers: Sequence[str]) -> bool:
    """The chosen sentence (answered or not) contains a gold answer."""
    return answer.candidate is not None and contains_answer(answer.candidate.text, answers)


def precision_at_k(answer: Answer, answers: Sequence[str], k: int, preview: int = PREVIEW_CHARS) -> bool:
    """One of the first ``k`` extracts, cut to ``preview`` characters, contains a gold answer."""
    return any(contains_answer(e.text[:preview], answers) for e in answer.extracts[:k])


def read_questions(path: Path) -> list[Question]:
    """Questions from a JSON-lines file of ``{"id", "question", "answers": [...]}``.

    Answers are strings (or whole numbers), or SQuAD-style objects with a ``"text"`` (anything else is
    refused: compared as text it would silently never match).
    """
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvalError(f"cannot read question file {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            answers = tuple(_answer_text(a) for a in row.get("answers", []))
            doc = row.get("doc")
            out.append(Question(str(row.get("id", number)), str(row["question"]), answers, str(doc) if doc else None))
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalError(f"{path}:{number}: not a question object ({exc.__class__.__name__}: {exc})") from None
    if not out:
        raise EvalError(f"{path} holds no questions")
    return out


def _answer_text(answer) -> str:
    """A gold answer given as a string, a whole number or, as in SQuAD's own files, as ``{"text": ..., "answer_start": ...}``."""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, int) and not isinstance(answer, bool):
        return str(answer)  # a year or a count written as a JSON number
    if isinstance(answer, dict) and isinstance(answer.get("text"), str):
        return answer["text"]
    raise ValueError(f"an answer must be a string, a whole number or an object with a \"text\" string, not {json.dumps(answer)[:80]}")


def score_mode(
    retriever: Retriever,
    questions: Sequence[Question],
    out_of_corpus: Sequence[Question] = (),
    progress: Callable[[int], None] | None = None,
    encode_ms: float = 0.0,
) -> ModeReport:
    """Ask every question with ``retriever`` and return its figures (``encode_ms`` is added to latency)."""
    report = ModeReport(retriever.mode)
    hits = {"s1": 0, "a1": 0, "p1": 0, "p3": 0, "declined": 0, "unanswerable_declined": 0, "ooc_declined": 0}
    lengths: list[int] = []
    times: list[float] = []
    asked = [(q, False) for q in questions] + [(q, True) for q in out_of_corpus]
    for question, outside in asked:
        started = time.perf_counter()
        answer = retriever.answer(question.question, top_k=3)
        times.append(time.perf_counter() - started)
        if progress:
            progress(1)
        if outside:
            report.out_of_corpus += 1
            hits["ooc_declined"] += not answer.answered
            continue
        if not question.answers:
            report.unanswerable += 1
            hits["unanswerable_declined"] += not answer.answered
            continue
        report.answerable += 1
        hits["s1"] += success_at_1(answer, question.answers)
        hits["a1"] += answer.answered and success_at_1(answer, question.answers)
        hits["p1"] += precision_at_k(answer, question.answers, 1)
        hits["p3"] += precision_at_k(answer, question.answers, 3)
        hits["declined"] += not answer.answered
        lengths.append(len(answer.extracts[0].text) if answer.extracts else 0)
    n = max(report.answerable, 1)
    report.s_at_1 = hits["s1"] / n
    report.answered_at_1 = hits["a1"] / n
    report.p_at_1 = hits["p1"] / n
    report.p_at_3 = hits["p3"] / n
    report.wrongly_declined = hits["declined"] / n
    report.first_extract_chars = statistics.fmean(lengths) if lengths else 0.0
    if report.unanswerable:
        report.unanswerable_declined = hits["unanswerable_declined"] / report.unanswerable
    if report.out_of_corpus:
        report.out_of_corpus_declined = hits["ooc_declined"] / report.out_of_corpus
    report.median_ms = statistics.median(times) * 1000 + encode_ms if times else 0.0
    report.encode_ms = encode_ms
    return report


def evaluate(
    config: Config,
    embedder: Embedder,
    docs: Path,
    questions: Sequence[Question],
    out_of_corpus: Sequence[Question] = (),
    modes: Sequence[str] = MODES,
    progress: Callable[[int], None] | None = None,
) -> list[ModeReport]:
    """Build a temporary index of ``docs`` and score every mode on the questions."""
    from index.build import build_index
    from retrieval.index_store import open_index

    texts = [" ".join(q.question.split()) for q in list(questions) + list(out_of_corpus)]
    encode_ms = single_encode_ms(embedder, texts)
    cached = CachedEmbedder(embedder)
    cached.prime(texts)
    with tempfile.TemporaryDirectory(prefix="retrieval-eval-") as tmp, _scratch_store(config) as config:
        build_index(config, embedder, seeds_dir=docs, index_dir=Path(tmp), progress=lambda done, total: None)
        index = open_index(config, embedder.name, Path(tmp))
        try:
            reports = []
            for mode in modes:
                settings = replace(config.retrieval, mode=mode)
                retriever = Retriever(index, cached, settings)
                reports.append(score_mode(retriever, questions, out_of_corpus, progress, encode_ms))
            return reports
        finally:
            index.close()


@contextlib.contextmanager
def _scratch_store(config: Config) -> Iterator[Config]:
    """``config``, but with a Milvus store pointed at collections of its own, dropped afterwards.

    The FAISS store needs nothing: its index goes to the temporary folder.
    """
    if config.index.store != "milvus":
        yield config
        return
    from index.milvus import drop_index

    name = f"{config.milvus.collection}_eval_{uuid.uuid4().hex[:8]}"
    scratch = replace(config, milvus=replace(config.milvus, collection=name))
    try:
        yield scratch
    finally:
        drop_index(scratch)


def format_table(reports: Sequence[ModeReport]) -> str:
    """The reports as a Markdown table, one row per mode."""

    def share(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    head = (
        "| mode | S@1 | answered@1 | P@1 | P@3 | first extract (chars) | answerable declined "
        "| unanswerable declined | out-of-corpus declined | median ms (model) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in reports:
        lines.append(
            f"| {r.mode} | {r.s_at_1:.3f} | {r.answered_at_1:.3f} | {r.p_at_1:.3f} | {r.p_at_3:.3f} "
            f"| {r.first_extract_chars:.0f} | {r.wrongly_declined:.3f} | {share(r.unanswerable_declined)} "
            f"| {share(r.out_of_corpus_declined)} | {r.median_ms:.0f} ({r.encode_ms:.0f}) |"
        )
    return "\n".join(lines)


def to_json(reports: Sequence[ModeReport], **context) -> dict:
    return {**context, "modes": {r.mode: asdict(r) for r in reports}}
