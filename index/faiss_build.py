"""Create the FAISS index for a matrix of normalised vectors.

Vectors are L2-normalised, so inner product equals cosine similarity.  ``auto``
picks exact search (``IndexFlatIP``) for small corpora and HNSW beyond
``HNSW_FROM`` passages, where an exact scan starts to cost more than a question
should.  FAISS ids are row numbers, which are passage ids in the store.
"""

from __future__ import annotations

import numpy as np

HNSW_FROM = 200_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
IVF_PROBE = 16


def choose_index_type(configured: str, passages: int) -> str:
    """Resolve ``auto`` by corpus size; any explicit choice wins."""
    if configured != "auto":
        return configured
    return "hnsw" if passages >= HNSW_FROM else "flat"


def make_faiss_index(vectors: np.ndarray, index_type: str):
    """Return a FAISS index of ``index_type`` holding ``vectors`` (row i gets id i)."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    elif index_type == "ivf":
        lists = max(1, min(int(4 * np.sqrt(len(vectors))), len(vectors) // 39 or 1))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = min(IVF_PROBE, lists)
    else:
        raise ValueError(f"unknown index type {index_type!r}")
    if len(vectors):
        index.add(vectors)
    return index
