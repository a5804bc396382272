"""Questions in any language: the multilingual path beside the English one.

Usage::

    crosslingual = open_crosslingual(index, config)        # None: English-only index or setting
    retriever = Retriever(index, embedder, config.retrieval, multilingual=crosslingual)
    retriever.answer("¿Cuántos puntos dejaron escapar los Panthers?")   # English quote, cited

Routing: an English question over documents that are all English takes the English
path (all-MiniLM-L6-v2, unchanged, about 0.4 ms more for the language check).  Any
other question, and every question once the documents are not all English, is
answered by a second ``Retriever`` over the same passages, sentences, BM25 and
citations, whose vectors are the multilingual encoder's (``index.multilingual``).
Answers stay verbatim sentences of the documents, in the documents' language.

The multilingual path has its own sentence weights and its own abstention model,
fitted by ``python -m eval.calibrate_multilingual`` on German questions only and
reported on the other languages (docs/quality.md): across languages a question
shares few words with its answer, so the English evidence of word coverage says
little, and the multilingual model's cosines live on another scale.  A question in
a language the encoder was not trained on is answered only when the abstention
model is at least ``UNCOVERED_MIN_CONFIDENCE`` sure (names and numbers shared with
the documents), never on meaning alone.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from typing import Any

from core.config import Config, RetrievalConfig
from core.lang import LanguageIdentifier
from core.text import has_unspaced
from retrieval.abstain import Evidence
from retrieval.load import LoadedIndex
from retrieval.retriever import Answer, Hit, Retriever, SentenceWeights, answer_type

log = logging.getLogger(__name__)

FROM_CONFIG = "from config"

# Sentence weights of the multilingual path; fitted by eval/calibrate_multilingual.py.
WEIGHTS = {
    "hybrid": SentenceWeights(cosine=1.0, coverage=1.25, passage=0.25, cue=0.05, length=0.0, antecedent=0.8),
    "dense": SentenceWeights(cosine=1.0, coverage=0.0, passage=0.0, cue=0.0, length=0.0, antecedent=0.0),
    "bm25": SentenceWeights(cosine=0.0, coverage=1.0, passage=0.0, cue=0.0, length=0.0, antecedent=0.0),
}

# Abstention of the multilingual path: logistic regression over these Evidence fields
# (named, so evidence added for the English model does not shift them); fitted by
# eval/calibrate_multilingual.py.
FEATURES = ("sentence_cosine", "passage_cosine", "sentence_coverage", "passage_coverage", "known_share")
ABSTAIN_WEIGHTS = (14.63, 7.77, 5.79, 2.48, -2.34)
ABSTAIN_BIAS = -12.23
# A question in a language the encoder does not know: answered only when this sure.
UNCOVERED_MIN_CONFIDENCE = 0.9


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


def multilingual_confidence(evidence: Evidence, weights=ABSTAIN_WEIGHTS, bias: float = ABSTAIN_BIAS) -> float:
    """The multilingual path's confidence (0..1) that the chosen sentence answers."""
    z = bias + sum(w * float(getattr(evidence, f)) for w, f in zip(weights, FEATURES))
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


class Crosslingual:
    """Decides which path answers a question and answers it on the multilingual one."""

    def __init__(
        self,
        index: LoadedIndex,
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
        self.covered = frozenset(getattr(encoder, "languages", ()))
        self.english_corpus = all(lang == "en" for lang in index.languages.values())
        mode = mode or settings.mode
        view = dataclasses.replace(
            index,
            faiss_index=index.multilingual.faiss_index,
            vectors=index.multilingual.vectors,
            sentence_vectors=index.multilingual.sentence_vectors,
            multilingual=None,
        )
        # The English model's hard cosine floor means nothing on this model's scale: the
        # calibrated confidence alone decides.
        ml_settings = dataclasses.replace(settings, min_score=-1.0, min_confidence=settings.multilingual_min_confidence)
        self.retriever = Retriever(
            view, QueryEncoder(encoder), ml_settings, mode=mode, weights=WEIGHTS[mode], confidence=multilingual_confidence
        )
        self.retriever.answer_kind = multilingual_answer_type

    def language(self, question: str) -> str:
        return self.languages.detect(question)

    def takes(self, question: str) -> bool:
        """Whether ``question`` goes to the multilingual path."""
        return not self.english_corpus or self.language(question) != "en"

    def answer(self, question: str, top_k: int | None = None) -> Answer:
        answer = self.retriever.answer(question, top_k)
        if answer.answered and self.covered and self.language(question) not in self.covered:
            if answer.confidence < UNCOVERED_MIN_CONFIDENCE:
                return dataclasses.replace(answer, answered=False, sentence=None)
        return answer

    def search(self, question: str, k: int) -> list[Hit]:
        return self.retriever.search(question, k)


def open_crosslingual(index: LoadedIndex, config: Config, encoder: Any = FROM_CONFIG) -> Crosslingual | None:
    """The multilingual path for ``index``, or None when the index or the settings have none.

    ``encoder``: the multilingual encoder, loaded from ``[index] multilingual_model`` by default.
    """
    if encoder is None:
        return None
    name = config.index.multilingual_model if encoder == FROM_CONFIG else encoder.name
    built = index.multilingual
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
