"""Decide whether the documents answer a question: a small calibrated logistic model.

Usage::

    confidence = answer_confidence(Evidence(sentence_cosine=0.61, ...))   # 0..1
    answered = confidence >= settings.min_confidence

One cosine threshold confuses "about another subject" with "phrased differently".
The model combines evidence that fails in different ways: how close the best
sentence and passage are in meaning, how much of the question's rare-word weight
they contain, whether the corpus knows the question's words at all, whether the
names the question mentions occur in the chosen document and in the collection, how
far the best sentence stands above the runner-up, and whether cosine and word coverage
agree on its passage (``retrieval.evidence``).

The weights are fitted by ``python -m eval.calibrate`` (logistic regression) on
collections of realistic size: halves of XQuAD indexed alone and asked both halves'
questions, single articles and groups of three, the five SQuAD 2.0 articles, SQuAD
questions against the 43 other XQuAD articles and against XQuAD's shorter copies of
their own articles (near-topic), and reader-phrased questions (eval/paraphrase_fit).
Other splits, sets and the probes are the check; see docs/quality.md.  ``known_share``
gets a negative weight: it is mostly carried by the coverages, and on its own it only
says the corpus shares the question's vocabulary.

The default threshold (``[retrieval] min_confidence``) is the one at which the fit
collections wrongly decline 3% of their answerable questions on average.
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass


@dataclass(frozen=True)
class Evidence:
    """What the retriever found for a question, as the abstention model sees it."""

    sentence_cosine: float  # cosine between the question and the chosen sentence
    passage_cosine: float  # best cosine between the question and a passage
    sentence_coverage: float  # idf-weighted share of question terms in the chosen sentence
    passage_coverage: float  # the same, over the best-covered top passage
    known_share: float  # idf-weighted share of question terms found anywhere in the corpus
    entity_missing: float = 0.0  # share of the question's names absent from the chosen document's retrieved passages
    entity_unknown: float = 0.0  # share of the question's names no document of the collection uses
    margin: float = 0.0  # chosen sentence's score minus the runner-up's (capped at 1)
    dense_rank: float = 0.0  # reciprocal rank of the chosen passage among the top passages by cosine
    lexical_rank: float = 0.0  # the same by word coverage

    def vector(self) -> tuple[float, ...]:
        return astuple(self)

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        return tuple(cls.__dataclass_fields__)


# Fitted by eval/calibrate.py (see the module docstring); order as in Evidence.
# entity_unknown stays at 0: it adds nothing once entity_missing is in (docs/quality.md, ablation).
WEIGHTS = (10.37, 4.65, 2.46, 3.51, -2.83, -2.55, 0.0, 1.79, 0.46, 1.47)
BIAS = -8.54


def logistic(z: float) -> float:
    """1 / (1 + e^-z), ``z`` clamped to +-50 so that no input overflows."""
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def logit(p: float) -> float:
    """The inverse of ``logistic`` for 0 < p < 1."""
    return math.log(p / (1 - p))


def answer_confidence(evidence: Evidence, weights: tuple[float, ...] = WEIGHTS, bias: float = BIAS) -> float:
    """Probability-like confidence (0..1) that the chosen sentence answers the question."""
    return logistic(bias + sum(w * x for w, x in zip(weights, evidence.vector())))
