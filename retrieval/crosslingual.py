"""Questions in any language: the multilingual path beside the English one.

Usage::

    crosslingual = open_crosslingual(index, config)        # None: English-only index or setting
    retriever = Retriever(index, embedder, config.retrieval, multilingual=crosslingual)
    retriever.answer("¿Cuántos puntos dejaron escapar los Panthers?")   # English quote, cited

Routing: an English question over documents that are all English takes the English
path (all-MiniLM-L6-v2, unchanged; the language check costs about half a millisecond).
Any other question, and every question once the documents are not all English, is
answered by a ``Retriever`` over the same passages, sentences, BM25 and citations whose
vectors are the multilingual encoder's (``index.multilingual``): ranked by BM25 and
vectors when the documents include the question's language, by the vectors alone across
languages (there BM25 matched stop words against names and lowered the first passage's
hit rate, Spanish 0.85 -> 0.71).  Answers stay verbatim sentences of the documents, in
the documents' language.

The multilingual path has its own sentence weights and its own abstention models (one
for each path), fitted by ``python -m eval.calibrate_multilingual`` on German questions
against the English articles and Russian against Russian ones, and reported on the other languages
(docs/quality.md).  Its cosines are centred: minus the question's cosine to the average
sentence of the document's language (``reference_centroids``).  A Chinese question is
closer to every Chinese sentence than a German one to English sentences, and only the
centred cosine means the same in both.  A
question in a language the encoder was not trained on is answered only when the
abstention model is at least ``UNCOVERED_MIN_CONFIDENCE`` sure, never on meaning alone.

With the default encoder, e5 with USE v3 fused in (``core.multilingual.FusedEmbedder``), a
question asked across languages in one of USE's languages is matched by both encoders'
cosines and judged by an abstention model fitted on those (``fused``); every other question
by e5's alone, exactly as with e5 by itself.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import logging
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.config import MULTILINGUAL_MODELS, Config, RetrievalConfig
from core.lang import LanguageIdentifier
from core.text import has_unspaced
from retrieval.abstain import Evidence, logistic, logit
from retrieval.followup import Turn
from retrieval.index_store import MULTILINGUAL, Adjust, IndexStore
from retrieval.retriever import Answer, Hit, Retriever, SentenceWeights, answer_type

log = logging.getLogger(__name__)

FROM_CONFIG = "from config"

# Sentence weights of the multilingual path; fitted by eval/calibrate_multilingual.py.
WEIGHTS = {
    "hybrid": SentenceWeights(cosine=8.0, coverage=1.5, passage=0.0, cue=0.1, length=0.0, antecedent=0.8),
    "dense": SentenceWeights(cosine=1.0, coverage=0.0, passage=0.0, cue=0.0, length=0.0, antecedent=0.0),
    "bm25": SentenceWeights(cosine=0.0, coverage=1.0, passage=0.0, cue=0.0, length=0.0, antecedent=0.0),
}

# Abstention of the multilingual path: one logistic regression per path (and, across
# languages, per encoder: e5 alone or fused with USE v3) over these Evidence fields (named,
# so evidence added for the English model does not shift them), fitted by
# ``python -m eval.calibrate_multilingual --labels correct --per-path``: the same-language
# path on Russian questions over the Russian articles, the cross-language path on German
# questions over the English ones (with e5 alone for "cross", fused for "fused").
# Positives are the fit questions whose chosen sentence holds the answer; negatives the
# out-of-corpus fit questions and the answerable ones answered with a wrong sentence (the
# confident wrong quote is what abstention is for).  Each model's threshold is the lowest
# declining 97.5% of its fit out-of-corpus questions; it is folded into the bias so that all
# decide at ``DECISION``, the shipped ``[retrieval] multilingual_min_confidence``.
FEATURES = ("sentence_cosine", "passage_cosine", "sentence_coverage", "passage_coverage", "known_share")
DECISION = RetrievalConfig.multilingual_min_confidence  # the shipped default


@dataclasses.dataclass(frozen=True)
class AbstentionModel:
    """A fitted logistic model over ``FEATURES`` and the threshold it was fitted to decide at."""

    weights: tuple[float, ...]
    bias: float
    threshold: float

    def confidence(self, evidence: Evidence) -> float:
        """0..1, at least ``DECISION`` exactly when the fitted model is at least ``threshold`` sure."""
        shift = logit(DECISION) - logit(self.threshold)
        return logistic(self.bias + shift + sum(w * float(getattr(evidence, f)) for w, f in zip(self.weights, FEATURES)))


ABSTAIN = {
    "same": AbstentionModel((31.99, -3.14, 6.15, -2.18, 2.06), -5.74, 0.16),
    "cross": AbstentionModel((70.95, -11.45, 8.26, -5.6, 0.54), -5.78, 0.35),
    # Across languages with USE v3 fused in (``Crosslingual.fused``): fitted the same way on the
    # German questions' fused cosines.  A question matched by e5 alone keeps "cross".
    "fused": AbstentionModel((54.04, -10.27, 8.8, -6.47, 0.92), -5.61, 0.34),
}
# A question in a language the encoder does not know: answered only when this sure.
UNCOVERED_MIN_CONFIDENCE = 0.9

# (question, its language) while ``Crosslingual.answer`` answers it: the language read with
# the conversation's (``LanguageIdentifier.detect``'s ``previous``), for the hooks the
# path's retrievers call with the question alone (follow-up cues, abstention model, turn).
# A context variable, so concurrent questions in other threads or tasks each see their own.
_ASKING: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("asking", default=None)


# How questions in other languages ask for a number, a date or a name (the documents'
# sentences are then checked as for English: digits, years, capitalised words).  A cue
# ending in "*" is a word prefix; cues in unspaced scripts match anywhere.  Words that are
# also common in English text ("ai", "kim", Dutch "wie") are left out.
_ASKS = {
    "number": [
        "cuánto*", "cuánta*", "combien", "quanto*", "quanta*", "quanti", "quante", "wieviel*", "wie viele",
        "wie viel", "wie lange", "wie alt", "wie hoch", "wie oft", "сколько", "скільки", "kaç", "ne kadar",
        "hoeveel", "ile", "πόσ*", "bao nhiêu", "mấy", "كم", "qué porcentaje", "多少", "几", "幾",
    ],
    "date": [
        "cuándo", "quand", "quando", "wann", "когда", "коли", "wanneer", "kiedy", "πότε", "متى", "qué año",
        "welchem jahr", "quelle année", "que ano", "che anno", "каком году", "ne zaman", "hangi yıl", "khi nào",
        "năm nào", "什么时候", "哪一年", "哪年", "何时", "いつ",
    ],
    "name": ["quién", "quiénes", "wer", "wem", "wen", "wessen", "quem", "кто", "кого", "кому", "кем", "хто", "kto", "kogo", "谁", "誰"],
}


def _cue(cue: str) -> str:
    if has_unspaced(cue):
        return re.escape(cue)
    if cue.endswith("*"):
        return rf"(?<!\w){re.escape(cue[:-1])}\w*"
    return rf"(?<!\w){re.escape(cue)}(?!\w)"


_ASK_PATTERNS = {kind: re.compile("|".join(_cue(c) for c in cues)) for kind, cues in _ASKS.items()}


@functools.lru_cache(maxsize=256)  # asked twice per answer (sentence scores, then the choice)
def multilingual_answer_type(question: str) -> str | None:
    """``answer_type`` for a question in any language: English cues first, then other languages'."""
    kind = answer_type(question)
    if kind:
        return kind
    text = question.lower()
    for kind, pattern in _ASK_PATTERNS.items():
        if pattern.search(text):
            return kind
    return None


class Crosslingual:
    """Decides which path answers a question and answers it on the multilingual one."""

    def __init__(
        self,
        index: IndexStore,
        encoder,
        settings: RetrievalConfig,
        *,
        languages: LanguageIdentifier | None = None,
        mode: str | None = None,
    ):
        if index.multilingual is None:
            raise ValueError("the index has no multilingual vectors")
        from core.multilingual import QueryEncoder

        self.languages = languages or LanguageIdentifier()
        self.languages.load()  # at start, not on the first question
        self._recent: dict[tuple[str, str], str] = {}  # (question, previous language) -> language
        self.covered = frozenset(getattr(encoder, "languages", ()))
        self.corpus_languages = frozenset(index.languages.values())
        # A short question is read in a language of the documents when that is plausible (core.lang).
        self._preferred = self.corpus_languages | {"en"}
        self.english_corpus = self.corpus_languages <= {"en"}
        mode = mode or settings.mode
        # Centred: a question's cosine to a sentence minus its cosine to the average sentence
        # of the document's language (reference_centroids).  The confidence then compares
        # like with like across languages: a Chinese question is closer to every Chinese
        # sentence than a German one to English sentences.  The store hands out the
        # multilingual vectors (either store: ``IndexStore.vector_set``), centred.
        view = index.vector_set(MULTILINGUAL, centring(index.multilingual.model))
        # The English model's hard cosine floor means nothing on this model's scale: the
        # calibrated confidence alone decides.
        ml_settings = dataclasses.replace(settings, min_score=-2.0, min_confidence=settings.multilingual_min_confidence)
        # With a fused encoder (core.multilingual.FusedEmbedder), questions asked across languages
        # in one of its second encoder's languages are matched by both (``fused``); the others
        # by e5 alone: their vectors' second part is zero, so every cosine is e5's.
        self.fused_languages = frozenset(getattr(encoder, "fused_languages", ()))
        queries = QueryEncoder(encoder)
        cross_queries = QueryEncoder(encoder, fuse=self.fused)
        # Same language (the question's words can occur in the documents): BM25 and
        # vectors, as in English.  Across languages BM25 only adds noise (Spanish stop words
        # matching English names): passages are ranked by the vectors alone.
        self.doc_languages = dict(index.languages)
        self.same = Retriever(view, queries, ml_settings, mode=mode, weights=WEIGHTS[mode], confidence=self.confidence)
        cross_mode = "dense" if mode == "hybrid" else mode
        self.cross = Retriever(view, cross_queries, ml_settings, mode=cross_mode, weights=WEIGHTS[mode], confidence=self.confidence)
        for retriever in (self.same, self.cross):
            retriever.answer_kind = multilingual_answer_type
            retriever.question_language = self.language
        # A weakly leaning follow-up is taken as one when, answered alone, it is unsure: as far
        # below this path's decision, on the logit scale, as the English setting is below
        # the English one (the two confidence scales decide at different points).
        gate = logistic(logit(ml_settings.min_confidence) + logit(self.same.follow_up.gate_confidence) - logit(settings.min_confidence))
        # Follow-ups are searched with the previous question joined to them (FollowUpSettings.joined).
        self.same.follow_up = dataclasses.replace(self.same.follow_up, gate_confidence=gate, joined=True)
        # A follow-up's own words are looked up in the documents to tell it from a new subject
        # (FollowUpSettings.known_share); across languages they are never there.
        self.cross.follow_up = dataclasses.replace(self.same.follow_up, known_share=0.0)

    def language(self, question: str, previous: str = "") -> str:
        """The question's language (``previous``: the question before's in the conversation),
        remembered for the last few questions (asked several times per answer)."""
        asked = _ASKING.get()
        if asked is not None and asked[0] == question and not previous:
            return asked[1]  # inside ``answer``: as it was read there, with the conversation's language
        key = (question, previous)
        language = self._recent.get(key)
        if language is None:
            if len(self._recent) >= 256:
                self._recent.clear()
            language = self._recent[key] = self.languages.detect(question, self._preferred, previous)
        return language

    def fused(self, question: str) -> bool:
        """Whether ``question`` is matched with both parts of a fused encoder's vectors: asked in
        one of its second encoder's languages, and no document is in that language.  Inside
        ``answer``, the language is the question's as read there (a follow-up's joined query too)."""
        if not self.fused_languages:
            return False
        asked = _ASKING.get()
        language = asked[1] if asked is not None else self.language(question)
        return language in self.fused_languages and language not in self.corpus_languages

    def confidence(self, question: str, doc: str, evidence: Evidence) -> float:
        """The abstention model of the pair: the question's language against the chosen sentence's
        document's (a Russian question over English and Russian documents may be answered from
        either: word overlap means something only in the second case); across languages, the
        fused cosines' own model when the question was matched with both encoders."""
        if self.doc_languages.get(doc) == self.language(question):
            return ABSTAIN["same"].confidence(evidence)
        return ABSTAIN["fused" if self.fused(question) else "cross"].confidence(evidence)

    def takes(self, question: str, previous: str = "") -> bool:
        """Whether ``question`` (after a question in language ``previous``) goes to the multilingual path."""
        return not self.english_corpus or self.language(question, previous) != "en"

    def retriever_for(self, question: str) -> Retriever:
        """The same-language retriever when the documents include the question's language, else the cross-language one."""
        return self.same if self.language(question) in self.corpus_languages else self.cross

    def answer(self, question: str, top_k: int | None = None, context: Turn | None = None) -> Answer:
        """The answer on the multilingual path; ``context`` as for ``Retriever.answer`` (a turn of
        either path: its query vector is mixed in only when it is of this path's model)."""
        language = self.language(question, context.language if context else "")
        token = _ASKING.set((question, language))
        try:
            answer = self.retriever_for(question).answer(question, top_k, context)
        finally:
            _ASKING.reset(token)
        if answer.answered and self.covered and language not in self.covered:
            if answer.confidence < UNCOVERED_MIN_CONFIDENCE:
                return dataclasses.replace(answer, answered=False, sentence=None)
        return answer

    def search(self, question: str, k: int) -> list[Hit]:
        return self.retriever_for(question).search(question, k)


def reference_centroids() -> dict[str, np.ndarray]:
    """Mean multilingual vectors of sentences and passages in English, Russian and Chinese.

    Computed once from the 48 XQuAD articles in each language (``retrieval/data``; "any" is
    the mean of the three, for other languages).  Fixed, not the corpus's own mean: a bot
    over a single article would otherwise subtract that article's topic from every
    sentence and decline everything about it.
    """
    with np.load(Path(__file__).with_name("data") / "multilingual_centroids.npz", allow_pickle=False) as data:
        return {name: np.asarray(data[name], dtype=np.float32) for name in data.files}


def centring(model: str) -> Adjust | None:
    """``IndexStore`` vectors -> centred vectors (``Adjust``), or None for another model than the
    one the reference centroids are of (tests use fakes).  The centroids are e5's: a fused
    encoder's vectors are centred in e5's part, its first; USE's part is left as it is (fused
    so when measured)."""
    if model not in MULTILINGUAL_MODELS:
        return None
    centroids = reference_centroids()

    def centre(vectors: np.ndarray, languages: Sequence[str], kind: str) -> np.ndarray:
        out = np.array(vectors, dtype=np.float32, copy=True)
        for lang in set(languages):
            rows = [i for i, x in enumerate(languages) if x == lang]
            centroid = centroids.get(f"{lang}_{kind}", centroids[f"any_{kind}"])
            out[rows, : len(centroid)] -= centroid
        return out

    return centre


def open_crosslingual(index: IndexStore, config: Config, encoder: Any = FROM_CONFIG) -> Crosslingual | None:
    """The multilingual path for ``index``, or None when the index or the settings have none.

    ``encoder``: the multilingual encoder, loaded from ``[index] multilingual_model`` by default.
    """
    if encoder is None:
        return None
    name = config.index.multilingual_model if encoder == FROM_CONFIG else encoder.name
    built = getattr(index, "multilingual", None)
    if not name:
        return None
    if built is None:
        log.info("the index has no multilingual vectors: questions in other languages need a rebuild (python -m index build)")
        return None
    if built.model != name:
        log.warning(
            "the index's multilingual vectors are from %r but the multilingual model is %r: "
            "English only until the next build (python -m index build)", built.model, name,
        )
        return None
    if encoder == FROM_CONFIG:
        from core.multilingual import load_multilingual

        encoder = load_multilingual(name)
    return Crosslingual(index, encoder, config.retrieval)
