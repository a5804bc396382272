"""FAISS index choice and approximate recall, checked against exact search (no timings)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.synthetic import mixture, random_centres, recall_at_k
from core.config import INDEX_TYPES
from index.faiss_build import HNSW_FROM, choose_index_type, make_faiss_index, read_faiss_index


@pytest.mark.parametrize(
    "passages, expected",
    [(0, "flat"), (1, "flat"), (HNSW_FROM - 1, "flat"), (HNSW_FROM, "hnsw"), (1_000_000, "hnsw")],
)
def test_auto_chooses_exact_search_for_small_corpora_and_hnsw_for_large(passages, expected):
    assert choose_index_type("auto", passages) == expected


@pytest.mark.parametrize("configured", [t for t in INDEX_TYPES if t != "auto"])
def test_configured_index_type_wins_over_size(configured):
    assert choose_index_type(configured, 10) == configured
    assert choose_index_type(configured, 10_000_000) == configured


@pytest.fixture(scope="module")
def clustered():
    """Vectors scattered around 300 centres (structure an ANN index can use), and nearby queries."""
    centres = random_centres(300, 48)
    vectors = mixture(centres, 20_000, seed=3)
    queries = mixture(centres, 200, seed=4)
    exact = make_faiss_index(vectors, "flat").search(queries, 10)[1]
    return vectors, queries, exact


@pytest.mark.parametrize("index_type", ["hnsw", "ivf"])
def test_approximate_index_finds_what_exact_search_finds(clustered, index_type, tmp_path):
    vectors, queries, exact = clustered
    index = make_faiss_index(vectors, index_type)
    assert index.ntotal == len(vectors)
    assert recall_at_k(index.search(queries, 10)[1], exact) >= 0.95
    # Written and read back, the index keeps its search settings and its answers.
    import faiss

    faiss.write_index(index, str(tmp_path / "faiss.index"))
    again = read_faiss_index(tmp_path / "faiss.index")
    np.testing.assert_array_equal(again.search(queries, 10)[1], index.search(queries, 10)[1])


def test_flat_index_scores_are_cosine_similarities(clustered):
    vectors, queries, _ = clustered
    scores, ids = make_faiss_index(vectors[:500], "flat").search(queries[:5], 3)
    np.testing.assert_allclose(scores, np.take_along_axis(queries[:5] @ vectors[:500].T, ids, axis=1), rtol=1e-5)


def test_batched_exact_search_equals_one_query_at_a_time(clustered):
    # The BLAS path (batches of 20+ queries) and faiss's own loop must agree.
    vectors, queries, exact = clustered
    index = make_faiss_index(vectors, "flat")
    one_by_one = np.vstack([index.search(q[None, :], 10)[1] for q in queries[:40]])
    assert recall_at_k(one_by_one, exact[:40]) >= 0.99


def test_single_question_search_leaves_the_thread_count_as_it_was(clustered, tmp_path):
    import faiss

    vectors, queries, exact = clustered
    faiss.write_index(make_faiss_index(vectors, "flat"), str(tmp_path / "faiss.index"))
    index = read_faiss_index(tmp_path / "faiss.index")
    before = faiss.omp_get_max_threads()
    found = np.vstack([index.search(q[None, :], 10)[1] for q in queries[:20]])
    assert faiss.omp_get_max_threads() == before
    assert recall_at_k(found, exact[:20]) >= 0.99
    assert index.ntotal == len(vectors) and index.d == vectors.shape[1]
