"""Follow-up questions: "And when was it held?" answered with what the previous turn was about.

Usage::

    first = retriever.answer("Who co-chaired the dialogue?")
    later = retriever.answer("And when was it held?", context=first.turn)
    later.context            # first.turn when it was read as a follow-up, None when answered alone
    Turn.from_json(first.turn.to_json()) == first.turn   # turns are kept in the bot's state store

A question asked after another one is read before any search.  It is a follow-up
when it clearly leans on the previous turn: it refers back ("it", "she", "that")
or is elliptical ("And by 2000?", "What about Holden?") and has few topic words of
its own.  It stands alone when it clearly does not: many topic words and nothing
pointing back.  Between the two (a pronoun with more words of its own, a definite
description such as "the new company", a single topic word) it is answered alone
first and read as a follow-up only if it finds little that way.  So most questions
are searched once, and a question that stands on its own is answered exactly as it
would be alone: a new topic is never bent by the previous one.

A follow-up is retrieved with the previous turn's context, never by writing a new
question: its topic terms join the question's terms (BM25 ranks passages with all
of them; the sentence score counts them at a lower weight than the question's
own), the previous query vector is mixed into the question's (dense search,
sentence cosine), and the passages of the paragraph the previous answer cited,
then of its document nearest that paragraph, get a rank prior fused with the two
rankings.  Whether the documents answer it is judged on the question with the
terms it inherited (``InheritedWeights``): they are part of what is asked.
The weights and the decision were chosen on the ``fit`` half of
``eval/follow_ups.jsonl`` (``python -m eval.follow_ups --grid``) and are reported
on the other half; see docs/quality.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from index.lexical import TermWeights
from retrieval.followup_cues import ENGLISH, Cues, cues_for

if TYPE_CHECKING:
    from retrieval.retriever import Answer, Retriever

# Topic terms a turn carries forward (its own first, then inherited ones): enough for a
# topic, few enough that the follow-up's own words still lead.
TURN_TERMS = 8
# Longest joined query (``joined_query``): a few turns of chat, well inside the encoder's window.
JOINED_CHARS = 400
# Passages of the cited document given the rank prior, nearest the cited paragraph first.
PRIOR_PASSAGES = 24


@dataclass(frozen=True)
class FollowUpSettings:
    """How a follow-up is recognised and retrieved; chosen on the fit half of eval/follow_ups.jsonl."""

    # Decision: a question that refers back ("it", "she", "that") or is elliptical ("And by
    # 2000?") with at most ``cue_terms`` topic terms of its own is a follow-up, whatever it
    # finds alone.  One that leans less clearly is a follow-up only when, answered alone, its
    # confidence is below ``gate_confidence``: a question that refers back, is elliptical or
    # has a definite description ("the new company") with at most ``lean_terms`` topic
    # terms, or any question with at most ``bare_terms``.
    cue_terms: int = 3
    lean_terms: int = 5
    bare_terms: int = 1
    gate_confidence: float = 0.3
    # ... and only if the documents hold at least this idf-weighted share of its own terms.
    known_share: float = 0.5
    # Retrieval: weight of the previous query vector mixed into the question's, and of the
    # rank prior on the cited paragraph's passages (1.0 counts like one more ranking).
    vector: float = 0.5
    prior: float = 2.0
    # The previous turn's terms always rank passages.  In the sentence score they count at
    # ``inherited`` of their weight (the question's own terms at 1): the previous answer's
    # sentence holds them all and would win too often; for a question with at most
    # ``score_inherited`` terms of its own they count fully.
    inherited: float = 0.25
    score_inherited: int = 0
    # In the abstention evidence (word coverage of the chosen sentence and passages) the
    # inherited terms count at this weight: they are part of what is asked, but the
    # previous answer's sentence holds them all whether or not it answers the new question.
    # Chosen on the fit half after the settings above: the share of right decisions
    # (answer when the sentence found answers, decline otherwise) at [retrieval] min_confidence.
    evidence_inherited: float = 0.25
    # Search a follow-up with the embedding of the previous question and this one joined,
    # instead of mixing their vectors (``vector``): one more encode, but a query the
    # abstention model reads like any other.  The multilingual path's model weighs the
    # cosine most, and on a mixed vector it declined 70% of Russian follow-ups (18% of
    # their standalone rewrites); joined, 39% (docs/quality.md).
    joined: bool = False


@dataclass(frozen=True)
class Turn:
    """What one question was about, for the question after it."""

    question: str  # as asked: shown in "Taking this as a follow-up to: ..."
    terms: tuple[str, ...]  # topic terms: the question's own, then those it inherited as a follow-up
    vector: tuple[float, ...] = ()  # the query vector it was searched with (unit length)
    doc: str | None = None  # where its answer (or best candidate) was
    paragraph: int | None = None
    # The model ``vector`` is of: a vector is mixed only into one of the same model (the
    # English and the multilingual path have vectors of the same size).
    space: str = ""
    language: str = ""  # the question's: the next one is read in it unless clearly in another
    # What it was searched with when that was more than the question (``FollowUpSettings.joined``:
    # the previous turn's query and this question), so a third turn still knows the topic.
    query: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "terms": list(self.terms),
            # Four decimals: 3 KB of JSON for MiniLM's 384 dimensions, no change in ranking.
            "vector": [round(float(x), 4) for x in self.vector],
            "doc": self.doc,
            "paragraph": self.paragraph,
            "space": self.space,
            "language": self.language,
            "query": self.query,
        }

    @classmethod
    def from_json(cls, data: Any) -> "Turn | None":
        """The turn ``to_json`` wrote, or None for anything else (an old or damaged record is no context)."""
        try:
            question = data["question"]
            terms = tuple(str(t) for t in data.get("terms", ()))
            vector = tuple(float(x) for x in data.get("vector", ()))
            doc = data.get("doc")
            paragraph = data.get("paragraph")
            space = data.get("space", "")
            language = data.get("language", "")
            query = data.get("query", "")
            if not all(isinstance(x, str) for x in (question, space, language, query)) or not (doc is None or isinstance(doc, str)):
                return None
            if paragraph is not None and (not isinstance(paragraph, int) or isinstance(paragraph, bool)):
                return None
        except (TypeError, KeyError, ValueError, AttributeError):
            return None
        return cls(question, terms, vector, doc, paragraph, space, language, query)


# How a question asked after another one is read (``reading``).
FOLLOW = "follow-up"  # leans on the previous turn whatever it finds alone
ALONE = "alone"  # stands on its own
GATED = "gated"  # a follow-up only if, answered alone, it finds little


def reading(question: str, own_terms: Sequence[str], settings: FollowUpSettings = FollowUpSettings(), cues: Cues = ENGLISH) -> str:
    """``FOLLOW``, ``ALONE`` or ``GATED`` for ``question`` with index terms ``own_terms``, before any search.

    Only ``GATED`` needs the question answered alone first (its confidence decides), so a
    question that clearly leans on the previous turn, or clearly does not, is searched once.
    ``cues``: the question's language's (``retrieval.followup_cues``).
    """
    own = len(cues.own_terms(list(own_terms)))
    cue = cues.elliptical(question) or cues.refers_back(question)
    if cue and own <= settings.cue_terms:
        return FOLLOW
    if own <= settings.bare_terms or ((cue or cues.definite(question)) and own <= settings.lean_terms):
        return GATED
    if cues.pro_drop and own <= settings.cue_terms:
        # No pronoun, but the language leaves subjects out: it may lean on the question before.
        return GATED
    return ALONE


def is_follow_up(
    question: str, own_terms: Sequence[str], confidence: float, settings: FollowUpSettings = FollowUpSettings(), cues: Cues = ENGLISH
) -> bool:
    """Whether ``question`` (with ``own_terms``, answered alone with ``confidence``) leans on the previous turn."""
    read = reading(question, own_terms, settings, cues)
    return read == FOLLOW or (read == GATED and confidence < settings.gate_confidence)


def context_terms(own_terms: Sequence[str], context: Turn) -> list[str]:
    """The question's terms, then the previous turn's topic terms it does not have."""
    seen = set(own_terms)
    return list(own_terms) + [t for t in context.terms if t not in seen and not seen.add(t)]


def context_vector(q_vector: np.ndarray, context: Turn, weight: float, space: str = "") -> np.ndarray:
    """The question's vector (of model ``space``) with the previous turn's mixed in (unit length);
    the question's alone if the previous one is of another model or none."""
    if not context.vector or len(context.vector) != len(q_vector) or context.space != space or weight <= 0:
        return q_vector
    mixed = q_vector + weight * np.asarray(context.vector, dtype=q_vector.dtype)
    norm = float(np.linalg.norm(mixed))
    return mixed / norm if norm > 0 else q_vector


def turn_terms(own_terms: Sequence[str], context: Turn | None) -> tuple[str, ...]:
    """The topic terms a turn carries forward: its own, then (for a follow-up) inherited ones."""
    terms = context_terms(own_terms, context) if context is not None else list(dict.fromkeys(own_terms))
    return tuple(terms[: max(TURN_TERMS, len(set(own_terms)))])


class Prior:
    """A rank prior on the passages near the previous answer, fused into a ranking like one more ranker."""

    def __init__(self, ids: Sequence[int], weight: float, k: int = 60):
        self.bonus = {i: weight / (k + rank) for rank, i in enumerate(ids, start=1)}

    @classmethod
    def near(cls, passages: Sequence[tuple[int, Any]], paragraph: int | None, weight: float) -> "Prior | None":
        """The prior over one document's ``(id, passage)`` pairs: the cited paragraph first, then by distance from it."""
        if not passages or weight <= 0:
            return None
        anchor = paragraph or 1

        def distance(item) -> int:
            p = item[1]
            return 0 if p.paragraph <= anchor <= p.paragraph_end else min(abs(p.paragraph - anchor), abs(p.paragraph_end - anchor))

        # Ties in document order (not by id: a Milvus store's ids are hashes).
        ordered = sorted(passages, key=lambda item: (distance(item), item[1].start))[:PRIOR_PASSAGES]
        return cls([i for i, _ in ordered], weight)

    def rerank(self, ranked: Sequence[tuple[int, float]], *, fused: bool) -> list[tuple[int, float]]:
        """``ranked`` (id, score) with the prior added; ``fused=False`` first turns raw scores into rank scores."""
        base = dict(ranked) if fused else {i: 1.0 / (60 + rank) for rank, (i, _) in enumerate(ranked, start=1)}
        for i, bonus in self.bonus.items():
            base[i] = base.get(i, 0.0) + bonus
        order = {i: n for n, (i, _) in enumerate(ranked)}
        return sorted(base.items(), key=lambda pair: (-pair[1], order.get(pair[0], math.inf), pair[0]))


def make_turn(
    question: str,
    own_terms: Sequence[str],
    vector: np.ndarray,
    answer: "Answer",
    context: Turn | None = None,
    space: str = "",
    language: str = "",
    query: str = "",
) -> Turn:
    """The turn ``answer`` makes: its topic terms, query vector (of model ``space``), language and,
    when it answered, where."""
    cited = answer.sentence if answer.answered else None
    return Turn(
        question,
        turn_terms(own_terms, context),
        tuple(float(x) for x in vector),
        cited.doc if cited else None,
        cited.paragraph if cited else None,
        space,
        language,
        query,
    )


def joined_query(context: Turn, question: str) -> str:
    """The previous turn's query (or question) and ``question``, the oldest words dropped past ``JOINED_CHARS``."""
    joined = " ".join(f"{context.query or context.question} {question}".split())
    if len(joined) <= JOINED_CHARS:
        return joined
    return joined[len(joined) - JOINED_CHARS :].split(" ", 1)[-1]


class InheritedWeights(TermWeights):
    """The index's term weights with the terms a follow-up inherited counted at ``weight`` of theirs."""

    def __init__(self, base: TermWeights, inherited: Sequence[str], weight: float):
        self.base = base
        self.inherited = frozenset(inherited)
        self.weight = weight

    def idf(self, term: str) -> float:
        idf = self.base.idf(term)
        return idf * self.weight if term in self.inherited else idf

    def known(self, term: str) -> bool:
        return self.base.known(term)


def answer_in_context(
    retriever: "Retriever",
    question: str,
    q_terms: list[str],
    context: Turn,
    top_k: int,
) -> "Answer":
    """The answer to ``question`` asked after ``context``: alone if it stands on its own, else retrieved with it.

    A question that clearly leans on the previous turn (or clearly does not) is searched
    once; only one whose reading depends on what it finds alone is searched twice.
    """
    settings = retriever.follow_up
    language = retriever.question_language(question)
    cues = cues_for(language)
    space = retriever.embedder.name

    def turn(vector: np.ndarray, answer: "Answer", used: Turn | None = None, query: str = "") -> Turn:
        return make_turn(question, q_terms, vector, answer, used, space, language, query)

    read = reading(question, q_terms, settings, cues)
    q_vector = None
    if read != FOLLOW:
        q_vector = retriever.embedder.encode([question])[0]
        alone = retriever._answer_with(question, q_vector, q_terms, top_k)
        # A question whose own words the documents mostly lack is about something else, not a
        # follow-up whose topic the previous turn supplies.
        off_topic = q_terms and retriever.lexical.known_share(q_terms) < settings.known_share
        if read == ALONE or alone.confidence >= settings.gate_confidence or off_topic:
            return replace(alone, turn=turn(q_vector, alone))
    query = ""
    if settings.joined:
        query = joined_query(context, question)
        vector = retriever.embedder.encode([query])[0]
    else:
        if q_vector is None:
            q_vector = retriever.embedder.encode([question])[0]
        vector = context_vector(q_vector, context, settings.vector, space)
    terms = context_terms(q_terms, context)
    inherited = terms[len(q_terms):]
    prior = None
    if context.doc is not None:
        prior = Prior.near(retriever.index.doc_passages(context.doc), context.paragraph, settings.prior)
    lexical = retriever.lexical
    own = len(cues.own_terms(q_terms))
    # A question with no terms of its own ("Why?") is asked entirely in the inherited ones.
    weight = 1.0 if own <= settings.score_inherited else settings.inherited
    evidence_weight = settings.evidence_inherited if own else 1.0
    answer = retriever._answer_with(
        question,
        vector,
        terms,
        top_k,
        prior,
        weights=InheritedWeights(lexical, inherited, weight),
        evidence_weights=InheritedWeights(lexical, inherited, evidence_weight),
    )
    if read == GATED and not answer.answered:
        # It leaned on the previous turn only weakly and finds nothing either way: answer it
        # as asked, so an off-topic question ("What does the manual say about ...?") is not
        # presented as a follow-up to an unrelated one.
        return replace(alone, turn=turn(q_vector, alone))
    return replace(answer, context=context, turn=turn(vector, answer, context, query))
