"""Evidence signals for "do the documents answer this?", each a small pure function.

Usage::

    names = question_entities("Who coached the Panthers in 2015?")      # ["panthers", "2015"]
    missing_share(names, present_terms)       # 0..1: names the chosen document never mentions
    unknown_share(names, lexical.known)       # 0..1: names no document of the collection mentions
    reciprocal_rank(rank_among(cosines, i))   # 1 for the first, 0.5 for the second, ...

Each signal fails in a different way from cosine and word coverage, which is why the
abstention model (``retrieval.abstain``) combines them:

- A question about another subject usually names something (a person, a team, a year)
  that the collection, or at least the document the best sentence comes from, never
  mentions, while a reader who paraphrases still names the same things as the text.
  Names are compared by their index terms (``index.lexical.terms``), so "Pakistani"
  meets "Pakistan".
- When the best sentence barely beats the runner-up (``margin``), nothing stands out.
- When the chosen passage is near the top of the retrieved passages both by cosine and by
  word coverage, meaning and wording agree (computed from the retrieved passages, so it is
  the same for every index store, whichever way it fuses its rankings).

What each contributes, measured on realistic collections, is in docs/quality.md
(``python -m eval.calibrate`` prints the ablation).
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Sequence

from core.text import words
from index.lexical import terms

_QUESTION_WORDS = frozenset("what which who whom whose when where why how".split())
_TOKEN = re.compile(r"\w[\w'’.-]*\w|\w")


def question_entities(question: str) -> list[str]:
    """Lower-cased words of the names and numbers in ``question``, first seen first.

    A name is a capitalised word after the first (which is capitalised anyway), or an
    all-capitals word such as "ISIS" anywhere; a number is any word with a digit.
    """
    out: list[str] = []
    for i, token in enumerate(_TOKEN.findall(question)):
        numeric = any(c.isdigit() for c in token)
        if not (numeric or (i > 0 and token[0].isupper()) or (len(token) > 1 and token.isupper())):
            continue
        for word in words(token):
            if word.isdigit() or (len(word) > 1 and word not in _QUESTION_WORDS):
                out.append(word)
    return list(dict.fromkeys(out))


def missing_share(entities: Sequence[str], present: Iterable[str] | set[str]) -> float:
    """Share (0..1) of ``entities`` whose index terms are not all in ``present``; 0 without entities."""
    if not entities:
        return 0.0
    present = present if isinstance(present, (set, frozenset)) else set(present)
    return sum(not all(t in present for t in terms(e)) for e in entities) / len(entities)


def unknown_share(entities: Sequence[str], known: Callable[[str], bool]) -> float:
    """Share (0..1) of ``entities`` with an index term the collection never uses; 0 without entities."""
    if not entities:
        return 0.0
    return sum(not all(known(t) for t in terms(e)) for e in entities) / len(entities)


def rank_among(values: Sequence[float], index: int) -> int:
    """0-based place of ``values[index]`` among ``values``, highest first (ties share the better place)."""
    return sum(v > values[index] for v in values)


def reciprocal_rank(rank: int | None) -> float:
    """1 / (1 + rank) for a 0-based rank, 0 when the item was not ranked at all."""
    return 0.0 if rank is None else 1.0 / (1.0 + rank)


def margin(best: float, runner_up: float | None) -> float:
    """How far the best score stands above the runner-up's, capped at 1 (1 without a runner-up)."""
    return 1.0 if runner_up is None else min(best - runner_up, 1.0)
