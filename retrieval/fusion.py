"""Combine rankings and collapse near-duplicate texts.

Usage::

    fused = reciprocal_rank_fusion([dense_ids, bm25_ids])   # [(id, score)], best first
    kept = collapse_duplicates(items, key=lambda item: item.text)

Reciprocal rank fusion (Cormack et al., 2009) needs no score calibration between
BM25 and cosine, which live on different scales and vary with the corpus.
Near-duplicates are judged on word 3-gram shingles: syndicated news repeats a
paragraph with small edits, and two copies must never fill two citation slots.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence, TypeVar

from core.text import words

RRF_K = 60  # the constant from the original paper; larger flattens the rank differences
DUPLICATE_THRESHOLD = 0.8

T = TypeVar("T")


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Fuse rankings (ids, best first) by summing 1 / (k + rank); ties keep first-seen order."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def shingles(text: str, n: int = 3) -> frozenset[tuple[str, ...]]:
    """Word n-grams of ``text`` (lower-cased); short texts yield their whole word tuple."""
    tokens = words(text)
    if len(tokens) < n:
        return frozenset([tuple(tokens)]) if tokens else frozenset()
    return frozenset(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def near_duplicates(a: frozenset, b: frozenset, threshold: float = DUPLICATE_THRESHOLD) -> bool:
    """True when the smaller shingle set is mostly contained in the other (one copy, lightly edited)."""
    if not a or not b:
        return a == b
    return len(a & b) / min(len(a), len(b)) >= threshold


def collapse_duplicates(
    items: Iterable[T],
    text: Callable[[T], str],
    threshold: float = DUPLICATE_THRESHOLD,
    limit: int | None = None,
    signature: Callable[[T], frozenset] | None = None,
) -> list[T]:
    """Keep the first of every group of near-duplicate items, preserving order.

    Stops once ``limit`` items are kept; ``signature`` may supply cached shingles.
    """
    kept: list[T] = []
    seen: list[frozenset] = []
    for item in items:
        if limit is not None and len(kept) >= limit:
            break
        sig = signature(item) if signature else shingles(text(item))
        if any(near_duplicates(sig, other, threshold) for other in seen):
            continue
        kept.append(item)
        seen.append(sig)
    return kept
