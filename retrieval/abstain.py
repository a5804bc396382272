"""Decide whether the documents answer a question: a small calibrated logistic model.

Usage::

    confidence = answer_confidence(Evidence(sentence_cosine=0.61, ...))   # 0..1
    answered = confidence >= settings.min_confidence

One cosine threshold confuses "about another subject" with "phrased differently".
The model combines evidence that fails in different ways: how close the best
sentence and passage are in meaning, how much of the question's rare-word weight
they contain, and whether the corpus knows the question's words at all.

The weights were fitted by ``python -m eval.calibrate`` (logistic regression): positives
are answerable SQuAD 2.0 dev questions asked against their own five articles, negatives
the same questions asked against the 43 XQuAD articles on other subjects.  They were
then checked, unchanged, on the other direction (XQuAD questions against the SQuAD
articles: eval/squad2_dev5/out_of_corpus.jsonl) and on answerable XQuAD; see docs/quality.md.
``known_share`` gets a small negative weight: it is mostly carried by the coverages, and
on its own it only says the corpus shares the question's vocabulary.

The default threshold (``[retrieval] min_confidence = 0.3``) is the one at which the fit
set wrongly declines at most 3% of its answerable questions.
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

    def vector(self) -> tuple[float, ...]:
        return astuple(self)


# Fitted by eval/calibrate.py (see the module docstring); order as in Evidence.
WEIGHTS = (14.63, 7.77, 5.79, 2.48, -2.34)
BIAS = -12.23


def answer_confidence(evidence: Evidence, weights: tuple[float, ...] = WEIGHTS, bias: float = BIAS) -> float:
    """Probability-like confidence (0..1) that the chosen sentence answers the question."""
    z = bias + sum(w * x for w, x in zip(weights, evidence.vector()))
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))
