"""Extractive document summaries: the sentences nearest the document's centroid.

Used by digests and by deep links into a document.  Every sentence is verbatim,
with its paragraph number, and the chosen ones are returned in reading order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.embedder import Embedder
from core.text import split_sentences
from index.chunk import split_paragraphs

# Fragments and walls of text make poor key sentences.
MIN_CHARS = 40
MAX_CHARS = 400


@dataclass(frozen=True)
class KeySentence:
    paragraph: int
    start: int
    end: int
    text: str


def key_sentences(text: str, embedder: Embedder, n: int = 3) -> list[KeySentence]:
    """The ``n`` sentences of ``text`` closest to its mean embedding, in reading order.

    Args:
        text: the whole document.
        embedder: model used to embed the sentences.
        n: how many sentences to return (fewer if the document is shorter).
    """
    _, paragraphs = split_paragraphs(text)
    sentences = [
        KeySentence(p.number, a, b, text[a:b]) for p in paragraphs for a, b in split_sentences(text, p.start, p.end)
    ]
    pool = [s for s in sentences if MIN_CHARS <= len(s.text) <= MAX_CHARS] or sentences
    if len(pool) <= n:
        return pool
    vectors = embedder.encode([s.text for s in pool])
    centroid = vectors.mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    scores = vectors @ centroid
    # Ties go to the earlier sentence: a lede usually says what the document is about.
    chosen = sorted(np.argsort(-scores, kind="stable")[:n])
    return [pool[i] for i in chosen]
