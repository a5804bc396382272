"""Extractive document summaries: the sentences nearest the document's centroid.

Used by digests and by deep links into a document.  Every sentence is verbatim,
with its paragraph number, and the chosen ones are returned in reading order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

# Fragments and walls of text make poor key sentences.
MIN_CHARS = 40
MAX_CHARS = 400


@dataclass(frozen=True)
class KeySentence:
    paragraph: int
    start: int
    end: int
    text: str
    page: int | None = None  # for documents with pages (PDFs)


def key_sentences(sentences: Sequence[KeySentence], vectors: np.ndarray, n: int = 3) -> list[KeySentence]:
    """The ``n`` sentences closest to the document's mean embedding, in reading order.

    Args:
        sentences: every sentence of one document, in reading order.
        vectors: their embeddings (row i for sentence i), as stored by the index build,
            so a summary costs no model call.
        n: how many sentences to return (fewer if the document is shorter).
    """
    pool = [i for i, s in enumerate(sentences) if MIN_CHARS <= len(s.text) <= MAX_CHARS] or list(range(len(sentences)))
    if len(pool) <= n:
        return [sentences[i] for i in pool]
    chosen_vectors = np.asarray(vectors)[pool]
    centroid = chosen_vectors.mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    scores = chosen_vectors @ centroid
    # Ties go to the earlier sentence: a lede usually says what the document is about.
    chosen = sorted(np.argsort(-scores, kind="stable")[:n])
    return [sentences[pool[i]] for i in chosen]
