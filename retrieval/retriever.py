"""Answer a question from the index: hybrid search, the answering sentence, abstention, citations.

Usage::

    retriever = Retriever.open(config, load_embedder(config.index.model))
    answer = retriever.answer("Who co-chaired the dialogue?")
    answer.answered, answer.answer, answer.extracts[0].title

One question costs one model call.  Passages are ranked by BM25 and by cosine
(FAISS, or Milvus's own hybrid search: ``retrieval.index_store``), the two
rankings fused by reciprocal rank, near-duplicate passages collapsed.  Every sentence of the top passages then competes to be the answer,
scored by its meaning (cosine against sentence vectors computed at build time),
the rare question words it contains (with the previous sentence's, when it opens
with a pronoun such as "they"), its passage's rank and whether it holds the
kind of thing asked for (a number for "how many", a date for "when", a name for
"who").  Answers are verbatim sentences, never generated; each extract is the
chosen sentence with its neighbours, cited by document, paragraph and offsets.
A calibrated model (``retrieval.abstain``) declines questions the documents do
not answer; the extracts are then only the closest passages.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.config import Config, RetrievalConfig
from core.embedder import Embedder
from core.text import words
from index.chunk import Passage, Sentence, split_paragraphs
from retrieval.abstain import Evidence, answer_confidence
from retrieval.answer_type import DATE, PLACE, VAGUE, answer_cue, answer_type, has_answer_type  # noqa: F401 (re-exported)
from retrieval.confidence import CONFIDENT, DECLINED, confidence_label, confidence_level
from retrieval.evidence import margin, missing_share, question_entities, rank_among, reciprocal_rank, unknown_share
from retrieval.followup import FollowUpSettings, Prior, Turn, answer_in_context, make_turn
from retrieval.fusion import collapse_duplicates, near_duplicates, shingles
from index.lexical import TermWeights, question_terms, terms
from index.pdf_text import page_of
from retrieval.index_store import IndexStore, open_index
from retrieval.summary import KeySentence, key_sentences

MODES = ("hybrid", "bm25", "dense")
# Passages whose sentences compete to be the answer.
SENTENCE_POOL = 12
# Passages that may supply the other cited extracts.
EXTRACT_POOL = 12
# Texts whose terms and shingles are memoised per retriever (~20 MB at 500-character texts).
TEXT_CACHE = 20_000


@dataclass(frozen=True)
class SentenceWeights:
    """Weights of the sentence score; fitted on SQuAD 2.0 dev answerable questions (eval/calibrate.py)."""

    cosine: float = 1.0
    coverage: float = 1.25
    passage: float = 0.25
    cue: float = 0.05
    length: float = 0.0  # tried; the fit preferred none, kept so eval/calibrate.py can search it
    antecedent: float = 0.8


# The baselines of ``python -m retrieval eval`` choose sentences by one signal only.
MODE_WEIGHTS = {
    "hybrid": SentenceWeights(),
    "dense": SentenceWeights(cosine=1.0, coverage=0.0, passage=0.0, cue=0.0, length=0.0, antecedent=0.0),
    "bm25": SentenceWeights(cosine=0.0, coverage=1.0, passage=0.0, cue=0.0, length=0.0, antecedent=0.0),
}


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
    page: int | None = None  # the page it starts on, for documents with pages (PDFs)
    source: str | None = None  # the original's URL (a link, a channel post) for documents that came with one

    @property
    def location(self) -> str:
        """Where to find it in the document: "paragraph 4", or "page 2, paragraph 4" in a PDF."""
        return f"page {self.page}, paragraph {self.paragraph}" if self.page else f"paragraph {self.paragraph}"

    def to_json(self) -> dict:
        return {
            "doc": self.doc,
            "title": self.title,
            "paragraph": self.paragraph,
            "page": self.page,
            "source": self.source,
            "text": self.text,
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class Hit:
    """A passage returned by search, with its ranking score (fused, cosine or BM25 by mode)."""

    id: int
    passage: Passage
    score: float
    cosine: float = 0.0
    bm25: float = 0.0


@dataclass(frozen=True)
class Answer:
    question: str
    answered: bool
    sentence: Extract | None = None
    extracts: list[Extract] = field(default_factory=list)
    confidence: float = 0.0  # the abstention model's confidence that ``candidate`` answers
    candidate: Extract | None = None  # the best sentence found, even when the bot declines
    turn: Turn | None = None  # what this question was about, for a follow-up to it
    context: Turn | None = None  # the previous turn, when the question was read as a follow-up to it
    level: str = ""  # retrieval.confidence level; "" (built by hand): "confident" if answered, else "declined"

    @property
    def answer(self) -> str | None:
        return self.sentence.text if self.answered and self.sentence else None

    @property
    def confidence_level(self) -> str:
        """How sure the bot is: "confident", "tentative" (answered, possibly not an answer) or "declined"."""
        return self.level or (CONFIDENT if self.answered else DECLINED)

    @property
    def confidence_label(self) -> str | None:
        """The words a reader sees about that (None: the answer needs no caution)."""
        return confidence_label(self.confidence_level)

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "answered": self.answered,
            "answer": self.answer,
            "confidence": round(self.confidence, 4),
            "confidence_level": self.confidence_level,
            "confidence_label": self.confidence_label,
            "extracts": [e.to_json() for e in self.extracts],
        }


@dataclass(frozen=True)
class ScoredSentence:
    """A candidate answer sentence with the evidence for it."""

    id: int
    sentence: Sentence
    rank: int  # rank of the passage it came from (0 = best)
    cosine: float
    coverage: float
    passage: float  # the passage's fused score relative to the best passage (0..1)
    cue: float  # 1 when it holds the kind of thing asked for
    length: float  # log(1 + characters) / 6: longer sentences carry more facts
    antecedent: float = 0.0  # coverage the previous sentence adds, for a sentence that refers back to it
    score: float = 0.0


class Retriever:
    """Query-time view of one index version.  Safe to call from several threads."""

    def __init__(
        self,
        index: IndexStore,
        embedder: Embedder,
        settings: RetrievalConfig,
        *,
        mode: str | None = None,
        weights: SentenceWeights | None = None,
        confidence=None,
        multilingual=None,
    ):
        """``weights`` and ``confidence`` ((question, document of the chosen sentence, Evidence) -> 0..1)
        default to the English model's;
        ``multilingual`` (``retrieval.crosslingual.Crosslingual``) answers the questions it takes."""
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.mode = mode or settings.mode
        if self.mode not in MODES:
            raise ValueError(f"unknown retrieval mode {self.mode!r}; choose one of {', '.join(MODES)}")
        self.weights = weights or MODE_WEIGHTS[self.mode]
        # (question, chosen sentence's document, evidence) -> 0..1; the English model reads the
        # evidence alone, the multilingual one also the pair of languages (retrieval.crosslingual).
        self.confidence = confidence or (lambda question, doc, evidence: answer_confidence(evidence))
        self.multilingual = multilingual
        self.answer_kind = answer_type  # question -> "number" / "date" / "name" / None
        self.question_language = lambda question: "en"  # for reading follow-ups (retrieval.followup_cues)
        self.follow_up = FollowUpSettings()
        self._titles = index.titles
        self._pages = index.pages
        self._sources = {doc: meta["source"] for doc, meta in index.manifest["documents"].items() if meta.get("source")}
        self._doc_cache: dict[str, str] = {}
        self._lock = threading.Lock()
        # Bounded memo tables (plain dicts: a lost race only computes a value twice).
        self._term_cache: dict[str, list[str]] = {}
        self._shingle_cache: dict[str, frozenset] = {}
        self.lexical = index.lexical

    @classmethod
    def open(cls, config: Config, embedder: Embedder, index_dir: Path | None = None, *, multilingual="from config") -> "Retriever":
        """Open the live index of the configured store (built with ``embedder``'s model) for querying.

        ``multilingual``: the multilingual encoder (loaded from the config by default; None: English only).
        """
        from retrieval.crosslingual import open_crosslingual

        index = open_index(config, embedder.name, index_dir)
        return cls(index, embedder, config.retrieval, multilingual=open_crosslingual(index, config, multilingual))

    # ------------------------------------------------------------ queries

    @property
    def documents(self) -> list[tuple[str, str]]:
        """(document, title) for every indexed document, sorted by document name."""
        return sorted(self._titles.items())

    def source(self, doc: str) -> str | None:
        """The original's URL for a document that came with one (a link, a channel post), else None."""
        return self._sources.get(doc)

    @property
    def passage_count(self) -> int:
        return int(self.index.manifest["counts"]["passages"])

    def search(self, question: str, k: int) -> list[Hit]:
        """The ``k`` best passages for ``question`` (fused BM25 and cosine ranks in hybrid mode), best first."""
        question = " ".join(question.split())
        if self.multilingual is not None and self.multilingual.takes(question):
            return self.multilingual.search(question, k)
        vector = self.embedder.encode([question])[0]
        return self._rank(vector, question_terms(question), k)

    def answer(self, question: str, top_k: int | None = None, context: Turn | None = None) -> Answer:
        """Answer ``question`` with a verbatim sentence and up to ``top_k`` cited extracts.

        Args:
            question: the user's question, any whitespace.
            top_k: extracts to return (default ``[retrieval] top_k``).
            context: the previous turn (``Answer.turn`` of the question before); the question
                is read as a follow-up to it only when it leans on it (``retrieval.followup``).

        Returns:
            An ``Answer``; ``answered`` is False when the documents do not answer,
            and the extracts are then the closest passages.  ``context`` is set when
            the previous turn was used; ``turn`` is this question's, for the next one.
        """
        top_k = top_k or self.settings.top_k
        question = " ".join(question.split())
        if not words(question):
            return Answer(question, answered=False)
        if self.multilingual is not None and self.multilingual.takes(question, context.language if context else ""):
            return self.multilingual.answer(question, top_k, context)
        q_terms = question_terms(question)
        if context is not None:
            return answer_in_context(self, question, q_terms, context, top_k)
        q_vector = self.embedder.encode([question])[0]
        alone = self._answer_with(question, q_vector, q_terms, top_k)
        turn = make_turn(question, q_terms, q_vector, alone, space=self.embedder.name, language=self.question_language(question))
        return replace(alone, turn=turn)

    def _answer_with(
        self,
        question: str,
        q_vector: np.ndarray,
        q_terms: list[str],
        top_k: int,
        prior: Prior | None = None,
        weights: TermWeights | None = None,
        evidence_weights: TermWeights | None = None,
    ) -> Answer:
        """The answer found with this query vector and terms; a follow-up (``retrieval.followup``)
        adds a rank ``prior`` and its own term ``weights`` for the sentence score and the evidence."""
        hits = self._rank(q_vector, q_terms, max(self.settings.candidates, top_k, EXTRACT_POOL), prior)
        if not hits:
            return Answer(question, answered=False)
        scored = self.score_sentences(question, q_vector, q_terms, hits[:EXTRACT_POOL], weights)
        if not scored:
            return Answer(question, answered=False)
        candidates = [s for s in scored if s.rank < SENTENCE_POOL]
        # The one-signal baselines (bm25, dense modes) choose by their signal alone.
        kind = self.answer_kind(question) if self.weights.cue else None
        best = choose_sentence(candidates, kind)
        shown = dated_in_paragraph(best, candidates, kind)  # "on May 10" for the "last week" it chose
        extracts = self._extracts(shown, scored, top_k)
        evidence = self.evidence(question, best, candidates, hits, q_terms, evidence_weights)
        confidence = self.confidence(question, best.sentence.doc, evidence)
        answered = confidence >= self.settings.min_confidence and evidence.passage_cosine >= self.settings.min_score
        sentence = self._sentence_extract(shown)
        level = confidence_level(confidence, answered=answered, high=self.settings.high_confidence)
        return Answer(question, answered, sentence if answered else None, extracts, confidence, sentence, level=level)

    def summary(self, doc: str, n: int = 3) -> tuple[str, list[KeySentence]] | None:
        """(title, the ``n`` key sentences) of ``doc``, from the stored sentence vectors; None if not indexed."""
        if doc not in self._titles:
            return None
        rows = self.index.doc_sentences(doc)
        sentences = [KeySentence(s.paragraph, s.start, s.end, s.text, self._page(doc, s.start)) for _, s in rows]
        vectors = self.index.vectors_for_sentences([sid for sid, _ in rows]) if rows else np.zeros((0, 1))
        return self._titles[doc], key_sentences(sentences, vectors, n)

    def paragraph(self, doc: str, number: int) -> Extract | None:
        """The whole paragraph ``number`` of ``doc``, for "show full paragraph"."""
        text = self._document_text(doc)
        if text is None:
            return None
        _, paragraphs = split_paragraphs(text)
        for para in paragraphs:
            if para.number == number:
                return self._cited(doc, number, text[para.start : para.end], 1.0, para.start, para.end)
        return None

    # ------------------------------------------------------------ ranking

    def _rank(self, q_vector: np.ndarray, q_terms: list[str], k: int, prior: Prior | None = None) -> list[Hit]:
        """Passages ranked by the mode's signal(s) (and ``prior``), near-duplicates collapsed, best first."""
        n = min(max(k, self.settings.candidates), self.passage_count)
        if n <= 0:
            return []
        ranked, bm25 = self.index.rank(q_vector, q_terms, n, self.mode)
        if prior is not None:
            ranked = prior.rerank(ranked, fused=self.mode == "hybrid")
        ids = [i for i, _ in ranked]
        passages = self.index.passages(ids)
        cosines = self.index.vectors_for_passages(ids) @ q_vector if ids else np.zeros(0)
        hits = [
            Hit(i, p, float(score), float(cos), bm25.get(i, 0.0))
            for (i, score), p, cos in zip(ranked, passages, cosines)
        ]
        return collapse_duplicates(hits, text=lambda h: h.passage.text, limit=k, signature=lambda h: self._shingles(h.passage.text))

    def score_sentences(
        self, question: str, q_vector: np.ndarray, q_terms: list[str], hits: list[Hit], weights: TermWeights | None = None
    ) -> list[ScoredSentence]:
        """Every sentence of ``hits``' passages, scored as a candidate answer (word coverage by ``weights``)."""
        seen: set[int] = set()
        rows: list[tuple[int, Sentence, int]] = []
        for rank, members in enumerate(self.index.sentences_of([h.passage for h in hits])):
            for sid, sentence in members:
                if sid not in seen:
                    seen.add(sid)
                    rows.append((sid, sentence, rank))
        if not rows:
            return []
        cosines = self.index.vectors_for_sentences([sid for sid, _, _ in rows]) @ q_vector
        top = hits[0].score or 1.0
        wanted = self.answer_kind(question)
        q_words = set(words(question))
        w = self.weights
        lexical = weights or self.lexical
        out = []
        for (sid, sentence, rank), cosine in zip(rows, cosines):
            sentence_terms = self._terms(sentence.text)
            coverage = lexical.coverage(q_terms, sentence_terms)
            passage = hits[rank].score / top
            cue = answer_cue(sentence.text, wanted, q_words)
            length = math.log1p(len(sentence.text)) / 6
            antecedent = 0.0
            if w.antecedent and refers_back(sentence.text):
                previous = self._previous_sentence(sentence)
                if previous is not None:
                    antecedent = lexical.coverage(q_terms, self._terms(previous.text) + sentence_terms) - coverage
            score = (
                w.cosine * float(cosine)
                + w.coverage * coverage
                + w.passage * passage
                + w.cue * cue
                + w.length * length
                + w.antecedent * antecedent
            )
            out.append(ScoredSentence(sid, sentence, rank, float(cosine), coverage, passage, cue, length, antecedent, score))
        return out

    def _terms(self, text: str) -> list[str]:
        """``terms(text)``, memoised: the same passages and sentences come up question after question."""
        return _memoised(self._term_cache, text, terms)

    def _shingles(self, text: str) -> frozenset:
        return _memoised(self._shingle_cache, text, shingles)

    def _previous_sentence(self, sentence: Sentence) -> Sentence | None:
        """The sentence before ``sentence`` in its paragraph, if any."""
        siblings = [x for _, x in self.index.paragraph_sentences(sentence.doc, sentence.paragraph)]
        at = next((i for i, x in enumerate(siblings) if x.start == sentence.start), 0)
        return siblings[at - 1] if at > 0 else None

    def evidence(
        self,
        question: str,
        best: ScoredSentence,
        candidates: list[ScoredSentence],
        hits: list[Hit],
        q_terms: list[str],
        weights: TermWeights | None = None,
    ) -> Evidence:
        """What the abstention model weighs for the chosen sentence ``best`` among ``candidates``
        (word coverage by ``weights``: a follow-up counts the terms it inherited)."""
        lexical = weights or self.lexical
        top = hits[:SENTENCE_POOL]
        entities = question_entities(question)
        doc = best.sentence.doc
        # The chosen document's words, as far as retrieval saw them: its title and its passages among the hits.
        seen = set(self._terms(self._titles.get(doc, "")))
        for h in hits:
            if h.passage.doc == doc:
                seen.update(self._terms(h.passage.text))
        runner_up = max((s.score for s in candidates if s.id != best.id), default=None)
        # Do meaning and wording agree on the chosen passage?  Its place among the top passages
        # by cosine and by word coverage (every index store gives both, whatever it fuses).
        coverages = [lexical.coverage(q_terms, self._terms(h.passage.text)) for h in top]
        return Evidence(
            sentence_cosine=best.cosine,
            passage_cosine=max(h.cosine for h in top),
            sentence_coverage=lexical.coverage(q_terms, self._terms(best.sentence.text)) if weights else best.coverage,
            passage_coverage=max(coverages),
            known_share=lexical.known_share(q_terms),
            entity_missing=missing_share(entities, seen),
            entity_unknown=unknown_share(entities, self.lexical.known),
            margin=margin(best.score, runner_up),
            dense_rank=reciprocal_rank(rank_among([h.cosine for h in top], best.rank)),
            lexical_rank=reciprocal_rank(rank_among(coverages, best.rank)),
        )

    # ------------------------------------------------------------ extracts

    def _extracts(self, best: ScoredSentence, scored: list[ScoredSentence], top_k: int) -> list[Extract]:
        """The chosen sentence in context first, then the next best sentences in context, never overlapping.

        The runner-up is often in the same paragraph as the chosen sentence, so every
        sentence competes, not only one per passage; an extract whose span overlaps an
        earlier one, or whose text nearly repeats it, is skipped.
        """
        order = [best] + sorted((s for s in scored if s.id != best.id), key=lambda s: -s.score)
        extracts: list[Extract] = []
        seen: list[frozenset] = []
        for s in order:
            t = s.sentence
            if any(e.doc == t.doc and e.start < t.end and t.start < e.end for e in extracts):
                continue  # already shown inside an earlier extract
            extract = self._context_extract(s, avoid=extracts)
            signature = shingles(extract.text)
            if any(near_duplicates(signature, other) for other in seen):
                continue
            extracts.append(extract)
            seen.append(signature)
            if len(extracts) == top_k:
                break
        return extracts

    def _sentence_extract(self, s: ScoredSentence) -> Extract:
        t = s.sentence
        return self._cited(t.doc, t.paragraph, t.text, s.score, t.start, t.end)

    def _context_extract(self, s: ScoredSentence, avoid: list[Extract] = ()) -> Extract:
        """The sentence with as many neighbours (next first, then previous) as fit in ``extract_chars``.

        Neighbours already shown in an extract of ``avoid`` are not repeated.
        """
        t = s.sentence
        limit = self.settings.extract_chars
        siblings = [x for _, x in self.index.paragraph_sentences(t.doc, t.paragraph)]
        at = next((i for i, x in enumerate(siblings) if x.start == t.start), None)
        start, end = t.start, t.end
        if at is not None:
            shown = lambda x: any(e.doc == x.doc and e.start < x.end and x.start < e.end for e in avoid)
            first = last = at
            grew = True
            while grew:
                grew = False
                nxt = siblings[last + 1] if last + 1 < len(siblings) else None
                if nxt and not shown(nxt) and nxt.end - siblings[first].start <= limit:
                    last += 1
                    grew = True
                prv = siblings[first - 1] if first > 0 else None
                if prv and not shown(prv) and siblings[last].end - prv.start <= limit:
                    first -= 1
                    grew = True
            start, end = siblings[first].start, siblings[last].end
        text = self._document_text(t.doc)
        body = text[start:end] if text is not None else t.text
        return self._cited(t.doc, t.paragraph, body, s.score, start, end)

    def _cited(self, doc: str, paragraph: int, text: str, score: float, start: int, end: int) -> Extract:
        """An extract of ``doc`` with its citation: title, paragraph and, in a PDF, page."""
        return Extract(
            doc, self._titles.get(doc, doc), paragraph, text, score, start, end, self._page(doc, start), self._sources.get(doc)
        )

    def _page(self, doc: str, offset: int) -> int | None:
        pages = self._pages.get(doc)
        return page_of(pages, offset) if pages else None

    def _document_text(self, doc: str) -> str | None:
        with self._lock:
            if doc not in self._doc_cache:
                record = self.index.document(doc)
                if record is None:
                    return None
                self._doc_cache[doc] = record.text
            return self._doc_cache[doc]

    def close(self) -> None:
        self.index.close()


def _memoised(table: dict, text: str, compute):
    """``compute(text)`` from ``table``, which is emptied when it reaches ``TEXT_CACHE`` entries."""
    value = table.get(text)
    if value is None:
        if len(table) >= TEXT_CACHE:
            table.clear()
        value = table[text] = compute(text)
    return value


# ---------------------------------------------------------------- choosing the sentence

# When the best sentence holds no specific answer of the asked kind (an explicit date for
# "when", a place for "where") and another within this much of its score does, that one
# answers: "on May 10" over "last week".  Chosen on the SQuAD 2.0 fit questions (S@1 as
# good or better with it; docs/quality.md); other kinds did not gain.
PREFER_SPECIFIC = {DATE: 0.3, PLACE: 0.3}


def choose_sentence(candidates: list[ScoredSentence], kind: str | None) -> ScoredSentence:
    """The best-scoring candidate, or a close one that holds the asked kind of answer more specifically."""
    best = max(candidates, key=lambda s: s.score)
    slack = PREFER_SPECIFIC.get(kind)
    if slack and best.cue < 1.0:
        better = [s for s in candidates if s.cue > best.cue and s.score >= best.score - slack]
        if better:
            best = max(better, key=lambda s: s.score)
    return best


def dated_in_paragraph(chosen: ScoredSentence, candidates: list[ScoredSentence], kind: str | None) -> ScoredSentence:
    """The sentence to show for ``chosen``: for a "when" question it answers with a relative date
    ("last week"), the best sentence of its paragraph that gives an explicit date and shares a
    question term, whatever its score; otherwise ``chosen`` itself.

    News dates an event relatively in one sentence and by the calendar in the next ("... held a
    dialogue in Washington last week ..." then "... co-chaired the Dialogue on May 10 ..."), and
    the paragraph is about the one event.  Whether to answer is still decided on ``chosen``.
    Limited to relative dates: handing over from a sentence with no date at all (or for other
    kinds) lowered S@1 on the fit sets (docs/quality.md).
    """
    if kind != DATE or chosen.cue != VAGUE:
        return chosen
    at = (chosen.sentence.doc, chosen.sentence.paragraph)
    dated = [s for s in candidates if (s.sentence.doc, s.sentence.paragraph) == at and s.cue == 1.0 and s.coverage > 0.0]
    return max(dated, key=lambda s: s.score) if dated else chosen


# Words that point back to the previous sentence ("In this way, they might be ...").
_ANAPHORS = frozenset("he she it they this these those his her its their such them him there".split())


def refers_back(sentence: str) -> bool:
    """Whether one of the first three words of ``sentence`` is a pronoun that needs the previous sentence."""
    return bool(_ANAPHORS.intersection(words(sentence)[:3]))
