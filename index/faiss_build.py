"""Create and open the FAISS index for a matrix of normalised vectors.

Vectors are L2-normalised, so inner product equals cosine similarity.  ``auto``
picks exact search (``IndexFlatIP``) for small corpora and HNSW from
``HNSW_FROM`` passages: an exact scan reads every vector for every question
(about 5 ms at 50,000 x 384 floats on a 2-core machine, 100 ms at 1,000,000),
while HNSW stays near a millisecond with recall@10 above 0.95 (docs/benchmarks.md).
FAISS ids are row numbers, which are passage ids in the store.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HNSW_FROM = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
# 128 gave recall@10 0.93 on the 1M synthetic benchmark, 256 gives 0.97 for ~0.2 ms more.
HNSW_EF_SEARCH = 256
IVF_PROBE = 16
# Exact search switches from faiss's own distance loop to BLAS at this many queries per
# batch.  faiss 1.15's default, 128,000, means never in practice; from about 20 queries
# BLAS is several times faster (100 queries over 100k passages: about 9x).
BLAS_THRESHOLD = 20


def choose_index_type(configured: str, passages: int) -> str:
    """Resolve ``auto`` by corpus size; any explicit choice wins."""
    if configured != "auto":
        return configured
    return "hnsw" if passages >= HNSW_FROM else "flat"


def configure_faiss():
    """Import faiss with the process-wide settings this project relies on."""
    import faiss

    faiss.cvar.distance_compute_blas_threshold = BLAS_THRESHOLD
    return faiss


def make_faiss_index(vectors: np.ndarray, index_type: str):
    """Return a FAISS index of ``index_type`` holding ``vectors`` (row i gets id i)."""
    faiss = configure_faiss()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    elif index_type == "ivf":
        lists = ivf_lists(len(vectors))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
        # k-means needs a few dozen points per list, not all of them: a sample keeps training short.
        sample = vectors
        if len(vectors) > 64 * lists:
            rows = np.random.default_rng(0).choice(len(vectors), 64 * lists, replace=False)
            sample = vectors[np.sort(rows)]
        index.train(sample)
        index.nprobe = min(IVF_PROBE, lists)
    else:
        raise ValueError(f"unknown index type {index_type!r}")
    if len(vectors):
        index.add(vectors)
    return index


def ivf_lists(passages: int) -> int:
    """Number of IVF lists: about 4 sqrt(n), with at least 39 training points per list."""
    return max(1, min(int(4 * np.sqrt(passages)), passages // 39 or 1))


class SearchIndex:
    """A loaded FAISS index whose searches of a few questions run on the calling thread alone.

    For one question faiss still forks OpenMP threads and joins them; when the other
    core is busy (the bot's own work, another process) the join waits for a scheduler
    time slice: measured here, 16 ms for a flat search of 761 passages with two threads
    against 0.15 ms with one, and 16 ms against 3 ms at 10,000.  Batches keep all threads.
    Everything but ``search`` is the wrapped index's own.
    """

    def __init__(self, index):
        self.index = index

    def search(self, vectors: np.ndarray, k: int):
        if len(vectors) >= BLAS_THRESHOLD:
            return self.index.search(vectors, k)
        import faiss

        # The OpenMP thread count is per calling thread: set it for this search and put it
        # back, so a build later run on the same worker thread still uses every core.
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self.index.search(vectors, k)
        finally:
            faiss.omp_set_num_threads(before)

    def __getattr__(self, name):
        return getattr(self.index, name)


def read_faiss_index(path: Path) -> SearchIndex:
    """Read a FAISS index written by ``faiss.write_index``; RuntimeError if unreadable.

    Read into memory rather than memory-mapped: for flat and HNSW indexes FAISS's
    ``IO_FLAG_MMAP`` copies the vectors anyway, and ``IO_FLAG_MMAP_IFC`` makes the
    first question on a 1M-passage index wait seconds for page faults.
    """
    faiss = configure_faiss()
    index = faiss.read_index(str(path))
    # Search breadth is a property of this code, not of the file: an index built by an
    # older version gets today's settings.
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    elif isinstance(index, faiss.IndexIVF):
        index.nprobe = min(IVF_PROBE, index.nlist)
    return SearchIndex(index)
