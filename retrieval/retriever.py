"""Answer a question from the index: search passages, pick the answering sentence, cite.

Usage::

    retriever = Retriever.open(config, load_embedder(config.index.model))
    answer = retriever.answer("Who co-chaired the dialogue?")
    answer.answered, answer.answer, answer.extracts[0].title

Answers are verbatim sentences from the documents, never generated; each extract
carries its document, title, paragraph number and character offsets.  When the
best passage is not close enough to the question (``min_score``), the answer is
"not answered" and the extracts are only the closest passages.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.config import Config, RetrievalConfig
from core.embedder import Embedder
from core.text import split_sentences, words
from index.chunk import Passage, split_paragraphs
from retrieval.load import LoadedIndex, load_index

# How many top passages compete to supply the answering sentence.
SENTENCE_POOL = 5
# Weight of question-word overlap against sentence cosine when choosing the sentence.
OVERLAP_WEIGHT = 0.5

_STOPWORDS = frozenset(
    """
    a an the of in on at to for from by with and or but is are was were be been being do does did
    what which who whom whose when where why how that this these those it its as into than then
    there their they them he she his her i you your we our us not no can could would should will
    has have had about after before during over under between
    """.split()
)


@dataclass(frozen=True)
class Extract:
    """A verbatim span of a document, with its citation."""

    doc: str
    title: str
    paragraph: int
    text: str
    score: float
    start: int
    end: int

    def to_json(self) -> dict:
        return {"doc": self.doc, "title": self.title, "paragraph": self.paragraph, "text": self.text, "score": round(self.score, 4)}


@dataclass(frozen=True)
class Hit:
    """A passage returned by search, with its cosine similarity to the question."""

    id: int
    passage: Passage
    score: float


@dataclass(frozen=True)
class Answer:
    question: str
    answered: bool
    sentence: Extract | None = None
    extracts: list[Extract] = field(default_factory=list)

    @property
    def answer(self) -> str | None:
        return self.sentence.text if self.answered and self.sentence else None

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "answered": self.answered,
            "answer": self.answer,
            "extracts": [e.to_json() for e in self.extracts],
        }


class Retriever:
    """Query-time view of one index version.  Safe to call from several threads."""

    def __init__(self, index: LoadedIndex, embedder: Embedder, settings: RetrievalConfig):
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self._titles = index.titles
        self._doc_cache: dict[str, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, config: Config, embedder: Embedder, index_dir: Path | None = None) -> "Retriever":
        """Load the current index (built with ``embedder``'s model) for querying."""
        index = load_index(Path(index_dir or config.index.dir), embedder.name)
        return cls(index, embedder, config.retrieval)

    # ------------------------------------------------------------ queries

    @property
    def documents(self) -> list[tuple[str, str]]:
        """(document, title) for every indexed document, sorted by document name."""
        return sorted(self._titles.items())

    @property
    def passage_count(self) -> int:
        return int(self.index.manifest["counts"]["passages"])

    def search(self, question: str, k: int) -> list[Hit]:
        """The ``k`` passages nearest to ``question`` by cosine similarity, best first."""
        vector = self.embedder.encode([question])
        return self._search_vector(vector, k)

    def _search_vector(self, vector: np.ndarray, k: int) -> list[Hit]:
        k = min(k, self.passage_count)
        if k <= 0:
            return []
        scores, ids = self.index.faiss_index.search(vector, k)
        pairs = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        passages = self.index.store.passages([i for i, _ in pairs])
        return [Hit(i, p, s) for (i, s), p in zip(pairs, passages)]

    def answer(self, question: str, top_k: int | None = None) -> Answer:
        """Answer ``question`` with a verbatim sentence and up to ``top_k`` cited extracts."""
        top_k = top_k or self.settings.top_k
        question = " ".join(question.split())
        if not words(question):
            return Answer(question, answered=False)
        q = self.embedder.encode([question])
        hits = self._search_vector(q, max(self.settings.candidates, top_k))
        if not hits:
            return Answer(question, answered=False)
        extracts = [self._passage_extract(h) for h in hits]
        if hits[0].score < self.settings.min_score:
            return Answer(question, answered=False, extracts=extracts[:top_k])
        sentence, source = self._best_sentence(question, q[0], hits[:SENTENCE_POOL])
        # The passage that supplied the answer goes first, so extract [1] shows it in context.
        ordered = [extracts[source]] + [e for i, e in enumerate(extracts) if i != source]
        return Answer(question, answered=True, sentence=sentence, extracts=ordered[:top_k])

    def paragraph(self, doc: str, number: int) -> Extract | None:
        """The whole paragraph ``number`` of ``doc``, for "show full paragraph"."""
        text = self._document_text(doc)
        if text is None:
            return None
        _, paragraphs = split_paragraphs(text)
        for para in paragraphs:
            if para.number == number:
                return Extract(doc, self._titles.get(doc, doc), number, text[para.start : para.end], 1.0, para.start, para.end)
        return None

    # ------------------------------------------------------------ helpers

    def _passage_extract(self, hit: Hit) -> Extract:
        p = hit.passage
        return Extract(p.doc, self._titles.get(p.doc, p.doc), p.paragraph, p.text, hit.score, p.start, p.end)

    def _best_sentence(self, question: str, q: np.ndarray, hits: list[Hit]) -> tuple[Extract, int]:
        """The sentence, among the top passages, that best matches the question's meaning and words."""
        q_words = {w for w in words(question) if w not in _STOPWORDS} or set(words(question))
        candidates: list[tuple[int, int, int]] = []  # (hit index, start, end) in document offsets
        for h_index, hit in enumerate(hits):
            p = hit.passage
            for a, b in split_sentences(p.text):
                candidates.append((h_index, p.start + a, p.start + b))
        texts = [hits[h].passage.text[a - hits[h].passage.start : b - hits[h].passage.start] for h, a, b in candidates]
        vectors = self.embedder.encode(texts)
        cosines = vectors @ q
        best, best_score = 0, -np.inf
        for i, (text, cosine) in enumerate(zip(texts, cosines)):
            overlap = len(q_words & set(words(text))) / len(q_words) if q_words else 0.0
            score = float(cosine) + OVERLAP_WEIGHT * overlap + 0.1 * hits[candidates[i][0]].score
            if score > best_score:
                best, best_score = i, score
        h_index, start, end = candidates[best]
        p = hits[h_index].passage
        paragraph = self._paragraph_at(p, start)
        extract = Extract(p.doc, self._titles.get(p.doc, p.doc), paragraph, texts[best], float(cosines[best]), start, end)
        return extract, h_index

    def _paragraph_at(self, passage: Passage, offset: int) -> int:
        """Number of the paragraph holding ``offset`` (a passage may span several)."""
        if passage.paragraph_end == passage.paragraph:
            return passage.paragraph
        text = self._document_text(passage.doc) or ""
        for para in split_paragraphs(text)[1]:
            if para.start <= offset < para.end:
                return para.number
        return passage.paragraph

    def _document_text(self, doc: str) -> str | None:
        with self._lock:
            if doc not in self._doc_cache:
                record = self.index.store.document(doc)
                if record is None:
                    return None
                self._doc_cache[doc] = record.text
            return self._doc_cache[doc]

    def close(self) -> None:
        self.index.close()
