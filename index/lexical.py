"""Lexical side of the index: BM25 over passages (bm25s) and word statistics for sentences.

Usage::

    lexical = LexicalIndex.build([p.text for p in passages])   # at build time
    lexical.save(version_dir / "bm25")
    lexical = LexicalIndex.load(version_dir / "bm25", passages=len(passages))
    lexical.search(question_terms("Who wrote it?"), k=20)  # [(passage id, bm25 score)], best first
    lexical.coverage(question_terms, terms(sentence)) # share of the question's weight found

The BM25 index is built with the rest of an index version and saved beside it
(bm25s' own format), so opening an index costs no tokenising: about 0.2 ms per
passage, which is 10-30 s at 50,000 passages and minutes at a million.  Terms are
lower-cased words without stop words, cut to their first five letters: a crude
stemmer, but "partnership" meets "partner" and "encoded" meets "encoding", and on
the SQuAD 2.0 dev questions it chose the answer sentence more often than plural
folding did (0.848 against 0.836 S@1).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from core.errors import IndexCorruptError
from core.text import words

BUILD_HINT = "python -m index build"

STOPWORDS = frozenset(
    """
    a an the of in on at to for from by with and or but is are was were be been being do does did
    what which who whom whose when where why how that this these those it its as into than then
    there their they them he she his her i you your we our us not no can could would should will
    has have had about after before during over under between also such other many much one
    """.split()
)


STEM_CHARS = 5


def _stem(word: str) -> str:
    # Numbers stay whole: "1901" and "19015" are different answers.  (isalpha first: it is
    # the common case and much cheaper than looking for a digit character by character.)
    if len(word) <= STEM_CHARS or not (word.isalpha() or not any(c.isdigit() for c in word)):
        return word
    return word[:STEM_CHARS]


def terms(text: str) -> list[str]:
    """Content words of ``text`` (no stop words, no single letters), lower-cased and stemmed, in order."""
    return [_stem(w) for w in words(text) if len(w) > 1 and w not in STOPWORDS]


# How questions ask about events, not what they ask about: "When did the dialogue take
# place?" is answered by "... held a dialogue on May 10", and a document rarely says
# "happened".  Counted as question terms, these unmatched words made the bot decline
# such questions as out of subject.  (On the dev sets: S@1 and declines unchanged or
# slightly better; see docs/quality.md.)
_EVENT_PHRASING = re.compile(r"\b(?:take|takes|took|taken|taking) place\b|\bhappen\w*|\boccur\w*", re.IGNORECASE)


def question_terms(question: str) -> list[str]:
    """``terms(question)`` without event phrasing such as "take place" and "happen"."""
    return terms(_EVENT_PHRASING.sub(" ", question))


def inverse_document_frequency(passages: int, df: int) -> float:
    """BM25's idf (Lucene's form, as bm25s and Milvus compute it) of a term found in ``df`` of ``passages``.

    An unseen word (``df`` 0) weighs more than the rarest seen word: a question about
    something the corpus never mentions must not look well covered.
    """
    n = max(passages, 1)
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


class TermWeights:
    """How much of a question's weight a text covers, given each term's inverse document frequency.

    Shared by the BM25 index in the version folder (``LexicalIndex``) and by stores that
    keep term statistics elsewhere (``retrieval.milvus_index``): subclasses give ``idf``
    and ``known``.
    """

    def idf(self, term: str) -> float:
        raise NotImplementedError

    def known(self, term: str) -> bool:
        raise NotImplementedError

    def coverage(self, question_terms: Sequence[str], text_terms: Iterable[str]) -> float:
        """The idf-weighted share of the question's distinct terms that occur in the text (0..1)."""
        wanted = set(question_terms)
        if not wanted:
            return 0.0
        present = wanted & set(text_terms)
        # fsum: a sum over a set must not depend on the set's order, which changes with
        # Python's string hashing from run to run; a last-bit difference would break ties
        # between equally covered sentences differently in each process.
        total = math.fsum(self.idf(t) for t in wanted)
        return math.fsum(self.idf(t) for t in present) / total if total else 0.0

    def known_share(self, question_terms: Sequence[str]) -> float:
        """The idf-weighted share of the question's terms that occur anywhere in the corpus."""
        wanted = set(question_terms)
        if not wanted:
            return 0.0
        total = math.fsum(self.idf(t) for t in wanted)
        return math.fsum(self.idf(t) for t in wanted if self.known(t)) / total


class LexicalIndex(TermWeights):
    """BM25 over a list of texts (row i == passage id i) plus inverse document frequencies."""

    def __init__(self, bm25, size: int, frequency: dict[str, int]):
        self._bm25 = bm25
        self.size = size
        self._idf = {t: inverse_document_frequency(size, df) for t, df in frequency.items() if t}
        self._unseen_idf = inverse_document_frequency(size, 0)

    @classmethod
    def build(cls, texts: Iterable[str]) -> "LexicalIndex":
        """Tokenise ``texts`` and index them for BM25."""
        bm25s = _bm25s()
        tokens = [terms(t) for t in texts]
        frequency: Counter[str] = Counter()
        for doc_terms in tokens:
            frequency.update(set(doc_terms))
        bm25 = None
        if tokens:
            bm25 = bm25s.BM25()
            bm25.index([t or [""] for t in tokens], show_progress=False)
        return cls(bm25, len(tokens), dict(frequency))

    def save(self, directory: Path) -> None:
        """Write the BM25 matrix and vocabulary into ``directory`` (created)."""
        directory.mkdir(parents=True, exist_ok=True)
        if self._bm25 is not None:
            self._bm25.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path, passages: int) -> "LexicalIndex":
        """Read what ``save`` wrote, checked against the index's ``passages`` count.

        Raises:
            IndexCorruptError: a file is missing, damaged or does not match the index.
        """
        if passages == 0:
            return cls(None, 0, {})
        bm25s = _bm25s()
        _check_files(directory)
        try:
            bm25 = bm25s.BM25.load(str(directory), show_progress=False, verbosity=0)
            scores = bm25.scores
            indptr = np.asarray(scores["indptr"])
            # bm25s keeps "" in its vocabulary without a column of its own.
            vocab = {term: int(column) for term, column in bm25.vocab_dict.items() if term}
            consistent = (
                int(scores["num_docs"]) == passages
                and all(0 <= column < len(indptr) - 1 for column in vocab.values())
                and len(scores["data"]) == len(scores["indices"]) == int(indptr[-1])
                and (len(scores["indices"]) == 0 or int(np.max(scores["indices"])) < passages)
            )
        except FileNotFoundError as exc:
            raise IndexCorruptError(f"{exc.filename or directory} is missing; rebuild with: {BUILD_HINT}") from None
        except Exception as exc:  # bm25s surfaces numpy, json and key errors alike
            raise IndexCorruptError(
                f"{directory} is truncated or corrupt ({exc.__class__.__name__}); rebuild with: {BUILD_HINT}"
            ) from None
        if not consistent:
            raise IndexCorruptError(f"{directory} does not match the index's {passages} passages; rebuild with: {BUILD_HINT}")
        # Each term's column holds one entry per passage containing it: its document frequency.
        counts = np.diff(indptr)
        frequency = {term: int(counts[column]) for term, column in vocab.items()}
        return cls(bm25, passages, frequency)

    def idf(self, term: str) -> float:
        return self._idf.get(term, self._unseen_idf)

    def known(self, term: str) -> bool:
        return term in self._idf

    def scores(self, question_terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every passage for ``question_terms`` (zeros when none is known)."""
        known = [t for t in question_terms if t in self._idf]
        if self._bm25 is None or not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def search(self, question_terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The ``k`` passages with the highest BM25 score above zero, best first."""
        scores = self.scores(question_terms)
        k = min(k, self.size)
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k] if k < self.size else np.arange(self.size)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


_ARRAYS = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy")
_JSON = ("vocab.index.json", "params.index.json")


def _check_files(directory: Path) -> None:
    """Name the first missing or damaged file of a saved BM25 (bm25s's own errors do not)."""
    for name in _ARRAYS + _JSON:
        path = directory / name
        try:
            if name in _ARRAYS:
                np.load(path, mmap_mode="r", allow_pickle=False)  # header and size only
            else:
                json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise IndexCorruptError(f"{path} is missing; rebuild with: {BUILD_HINT}") from None
        except (OSError, ValueError, EOFError, UnicodeDecodeError) as exc:
            raise IndexCorruptError(
                f"{path} is truncated or corrupt ({exc.__class__.__name__}); rebuild with: {BUILD_HINT}"
            ) from None


def _bm25s():
    import bm25s

    # bm25s sets its own logger to DEBUG on import; keep it at the application's level.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s
