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
An answer in a script written without spaces (Chinese, Japanese, Thai) is looked
for as a substring, spaces ignored ("136 次" matches "136次").

Several question files may be given (``--questions`` and ``--out-of-corpus`` repeat):
the figures are then also reported per language, the language being a file's
``"lang"`` field or, without one, the language most of its questions are in.  With
``[index] multilingual_model`` set, the index holds the multilingual vectors too and
each row says how many questions took the multilingual path; the per-language rows
also give how often an answer the bot gave (did not decline) holds a gold answer.
"""

from __future__ import annotations

import contextlib
import functools
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
from core.multilingual import QueryEncoder
from core.text import UNSPACED, has_unspaced
from retrieval.retriever import MODES, Answer, Retriever

PREVIEW_CHARS = 600  # P@k looks at this much of each extract, as a reader's first glance would
ENCODE_SAMPLE = 50  # questions embedded one at a time to measure the model's share of latency

_PUNCTUATION = re.compile("[" + re.escape(string.punctuation) + "‘’“”–—…«»„。，、；：？！「」『』（）《》〈〉・]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]  # empty: the documents do not answer it
    doc: str | None = None  # the document it was written about, when the file says
    language: str = ""  # its file's language, for the per-language figures ("" when not grouped)


@dataclass
class ModeReport:
    """The figures for one retrieval mode; rates are shares (0..1) of the questions they count."""

    mode: str
    language: str = "all"
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
    answered_precision: float | None = None  # of the answerable questions answered, the share whose answer holds a gold one
    multilingual: float = 0.0  # share of the questions that took the multilingual path


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
    """Whether ``text`` contains any of ``answers`` as whole words, after normalisation.

    Whole words: no letter or digit of a spaced script touches the match ("308" is not in
    "3080" but is in "丢了308分").  An answer in a script written without spaces is matched
    as a substring with spaces removed ("136 次" is in "136次").
    """
    haystack = normalize_answer(text)
    for answer in answers:
        needle = normalize_answer(answer)
        if not needle:
            continue
        if has_unspaced(needle):
            if needle.replace(" ", "") in haystack.replace(" ", ""):
                return True
        elif _whole(needle).search(haystack):
            return True
    return False


@functools.lru_cache(maxsize=4096)
def _whole(needle: str) -> re.Pattern:
    return re.compile(rf"(?<![^\W{UNSPACED}]){re.escape(needle)}(?![^\W{UNSPACED}])")


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


def read_question_files(paths: Sequence[Path], limit: int | None = None) -> list[Question]:
    """The questions of several files (the first ``limit`` of each), each tagged with its file's language.

    A file's language is its rows' ``"lang"`` field, or else the language most of its questions are in.
    """
    from collections import Counter

    from core.lang import LanguageIdentifier

    identifier = LanguageIdentifier()
    out: list[Question] = []
    for path in paths:
        rows = read_questions(Path(path))[:limit]
        language = _file_language(Path(path)) or Counter(identifier.detect(q.question) for q in rows).most_common(1)[0][0]
        out.extend(replace(q, language=language) for q in rows)
    return out


def _file_language(path: Path) -> str | None:
    """The ``"lang"`` field of a question file's first row, if it has one."""
    try:
        first = next((line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()), "")
        lang = json.loads(first).get("lang") if first else None
    except (OSError, ValueError, AttributeError):
        return None
    return str(lang) if lang else None


def _answer_text(answer) -> str:
    """A gold answer given as a string, a whole number or, as in SQuAD's own files, as ``{"text": ..., "answer_start": ...}``."""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, int) and not isinstance(answer, bool):
        return str(answer)  # a year or a count written as a JSON number
    if isinstance(answer, dict) and isinstance(answer.get("text"), str):
        return answer["text"]
    raise ValueError(f"an answer must be a string, a whole number or an object with a \"text\" string, not {json.dumps(answer)[:80]}")


@dataclass(frozen=True)
class _Outcome:
    """What happened to one question."""

    language: str
    kind: str  # "answerable", "unanswerable" or "outside" (out of corpus)
    answered: bool
    s1: bool = False
    p1: bool = False
    p3: bool = False
    first_chars: int = 0
    multilingual: bool = False
    seconds: float = 0.0


def score_mode(
    retriever: Retriever,
    questions: Sequence[Question],
    out_of_corpus: Sequence[Question] = (),
    progress: Callable[[int], None] | None = None,
    encode_ms: float = 0.0,
    *,
    by_language: bool = False,
    multilingual_encode_ms: float = 0.0,
) -> ModeReport | list[ModeReport]:
    """Ask every question with ``retriever`` and return its figures (``encode_ms`` is added to latency).

    With ``by_language``, a list: all questions first, then one report per language.
    ``multilingual_encode_ms`` is added instead of ``encode_ms`` for questions that took the multilingual path.
    """
    outcomes: list[_Outcome] = []
    asked = [(q, False) for q in questions] + [(q, True) for q in out_of_corpus]
    router = retriever.multilingual
    for question, outside in asked:
        multilingual = router is not None and router.takes(" ".join(question.question.split()))
        started = time.perf_counter()
        answer = retriever.answer(question.question, top_k=3)
        seconds = time.perf_counter() - started + (multilingual_encode_ms if multilingual else encode_ms) / 1000
        if progress:
            progress(1)
        if outside or not question.answers:
            kind = "outside" if outside else "unanswerable"
            outcomes.append(_Outcome(question.language, kind, answer.answered, multilingual=multilingual, seconds=seconds))
            continue
        outcomes.append(
            _Outcome(
                question.language,
                "answerable",
                answer.answered,
                s1=success_at_1(answer, question.answers),
                p1=precision_at_k(answer, question.answers, 1),
                p3=precision_at_k(answer, question.answers, 3),
                first_chars=len(answer.extracts[0].text) if answer.extracts else 0,
                multilingual=multilingual,
                seconds=seconds,
            )
        )
    report = _aggregate(retriever.mode, "all", outcomes, encode_ms)
    if not by_language:
        return report
    languages = sorted({o.language for o in outcomes})
    return [report] + [
        _aggregate(retriever.mode, lang, [o for o in outcomes if o.language == lang], encode_ms) for lang in languages
    ]


def _aggregate(mode: str, language: str, outcomes: Sequence[_Outcome], encode_ms: float) -> ModeReport:
    report = ModeReport(mode, language)
    answerable = [o for o in outcomes if o.kind == "answerable"]
    unanswerable = [o for o in outcomes if o.kind == "unanswerable"]
    outside = [o for o in outcomes if o.kind == "outside"]
    report.answerable = len(answerable)
    n = max(len(answerable), 1)
    report.s_at_1 = sum(o.s1 for o in answerable) / n
    report.answered_at_1 = sum(o.answered and o.s1 for o in answerable) / n
    report.p_at_1 = sum(o.p1 for o in answerable) / n
    report.p_at_3 = sum(o.p3 for o in answerable) / n
    report.wrongly_declined = sum(not o.answered for o in answerable) / n
    report.first_extract_chars = statistics.fmean(o.first_chars for o in answerable) if answerable else 0.0
    answered = [o for o in answerable if o.answered]
    if answered:
        report.answered_precision = sum(o.s1 for o in answered) / len(answered)
    if unanswerable:
        report.unanswerable = len(unanswerable)
        report.unanswerable_declined = sum(not o.answered for o in unanswerable) / len(unanswerable)
    if outside:
        report.out_of_corpus = len(outside)
        report.out_of_corpus_declined = sum(not o.answered for o in outside) / len(outside)
    report.median_ms = statistics.median(o.seconds for o in outcomes) * 1000 if outcomes else 0.0
    report.encode_ms = encode_ms
    report.multilingual = sum(o.multilingual for o in outcomes) / len(outcomes) if outcomes else 0.0
    return report


class CachedQueries:
    """Wraps the multilingual encoder; questions embedded by ``prime`` are served from memory."""

    def __init__(self, encoder):
        self.inner = encoder
        self.name = encoder.name
        self.dimension = encoder.dimension
        self.languages = getattr(encoder, "languages", frozenset())
        self.weights_sha256 = getattr(encoder, "weights_sha256", None)
        # A fused encoder (core.multilingual.FusedEmbedder): both parts are cached, the second
        # zeroed on the way out for the questions matched by the first alone.
        self.fused_languages = getattr(encoder, "fused_languages", frozenset())
        self.primary_dimension = getattr(encoder, "primary_dimension", None)
        self._cache: dict[str, object] = {}

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False):
        return self.inner.encode(texts, batch_size=batch_size)

    def _queries(self, texts: Sequence[str]):
        if self.fused_languages:
            return self.inner.encode_queries(list(texts), fuse=True)
        return QueryEncoder(self.inner).encode(texts)

    def prime(self, texts: Sequence[str]) -> None:
        texts = sorted(set(texts) - set(self._cache))
        for start in range(0, len(texts), 256):
            chunk = texts[start : start + 256]
            for text, vector in zip(chunk, self._queries(chunk)):
                self._cache[text] = vector

    def encode_queries(self, texts: Sequence[str], fuse: bool = True):
        import numpy as np

        if all(t in self._cache for t in texts):
            vectors = np.array([self._cache[t] for t in texts], dtype=np.float32).reshape(len(texts), self.dimension)
        else:
            vectors = np.array(self._queries(texts), dtype=np.float32)
        if self.primary_dimension and not fuse:
            vectors[:, self.primary_dimension :] = 0.0
        return vectors


def evaluate(
    config: Config,
    embedder: Embedder,
    docs: Path,
    questions: Sequence[Question],
    out_of_corpus: Sequence[Question] = (),
    modes: Sequence[str] = MODES,
    progress: Callable[[int], None] | None = None,
    *,
    multilingual=None,
    by_language: bool = False,
) -> list[ModeReport]:
    """Build a temporary index of ``docs`` and score every mode on the questions.

    ``multilingual``: the multilingual encoder (None: English only).  With ``by_language``
    each mode's report for all questions is followed by one per language.
    """
    from index.build import build_index
    from retrieval.crosslingual import Crosslingual
    from retrieval.index_store import open_index

    texts = [" ".join(q.question.split()) for q in list(questions) + list(out_of_corpus)]
    cached = CachedEmbedder(embedder)
    ml = CachedQueries(multilingual) if multilingual is not None else None
    with tempfile.TemporaryDirectory(prefix="retrieval-eval-") as tmp, _scratch_store(config) as config:
        build_index(config, embedder, multilingual=multilingual, seeds_dir=docs, index_dir=Path(tmp), progress=lambda done, total: None)
        index = open_index(config, embedder.name, Path(tmp))
        try:
            router = Crosslingual(index, ml, config.retrieval) if ml is not None and getattr(index, "multilingual", None) is not None else None
            routed = [t for t in texts if router is not None and router.takes(t)]
            english = [t for t in texts if t not in set(routed)]
            encode_ms = single_encode_ms(embedder, english or texts)
            multilingual_ms = single_encode_ms(QueryEncoder(multilingual, fuse=lambda question: True), routed) if routed else 0.0
            cached.prime(english)
            if ml is not None:
                ml.prime(routed)
            reports: list[ModeReport] = []
            for mode in modes:
                settings = replace(config.retrieval, mode=mode)
                crosslingual = Crosslingual(index, ml, settings, languages=router.languages) if router is not None else None
                retriever = Retriever(index, cached, settings, multilingual=crosslingual)
                scored = score_mode(
                    retriever, questions, out_of_corpus, progress, encode_ms,
                    by_language=by_language, multilingual_encode_ms=multilingual_ms,
                )
                reports.extend(scored if by_language else [scored])
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
    """The reports over all questions as a Markdown table, one row per mode."""

    def share(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    head = (
        "| mode | S@1 | answered@1 | P@1 | P@3 | first extract (chars) | answerable declined "
        "| unanswerable declined | out-of-corpus declined | median ms (model) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in reports:
        if r.language != "all":
            continue
        lines.append(
            f"| {r.mode} | {r.s_at_1:.3f} | {r.answered_at_1:.3f} | {r.p_at_1:.3f} | {r.p_at_3:.3f} "
            f"| {r.first_extract_chars:.0f} | {r.wrongly_declined:.3f} | {share(r.unanswerable_declined)} "
            f"| {share(r.out_of_corpus_declined)} | {r.median_ms:.0f} ({r.encode_ms:.0f}) |"
        )
    return "\n".join(lines)


def format_language_table(reports: Sequence[ModeReport]) -> str:
    """The per-language reports as a Markdown table, one row per language and mode."""

    def share(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    head = (
        "| language | mode | answerable | S@1 | P@1 | P@3 | answerable declined | answers holding the answer "
        "| out-of-corpus | out-of-corpus declined | multilingual path | median ms |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in sorted((r for r in reports if r.language != "all"), key=lambda r: (r.language, MODES.index(r.mode))):
        asked = r.answerable > 0  # a language asked only out-of-corpus questions has no answer figures
        figures = [r.s_at_1, r.p_at_1, r.p_at_3, r.wrongly_declined] if asked else [None] * 4
        lines.append(
            f"| {r.language} | {r.mode} | {r.answerable} | " + " | ".join(share(x) for x in figures)
            + f" | {share(r.answered_precision)} | {r.out_of_corpus} "
            f"| {share(r.out_of_corpus_declined)} | {r.multilingual:.2f} | {r.median_ms:.0f} |"
        )
    return "\n".join(lines)


def to_json(reports: Sequence[ModeReport], **context) -> dict:
    out = {**context, "modes": {r.mode: asdict(r) for r in reports if r.language == "all"}}
    languages: dict[str, dict] = {}
    for r in reports:
        if r.language != "all":
            languages.setdefault(r.language, {})[r.mode] = asdict(r)
    if languages:
        out["languages"] = languages
    return out
