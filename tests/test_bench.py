"""Benchmark helpers that the figures rest on: synthetic data, recall, the 100-document corpus."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.synthetic import mixture, random_centres, recall_at_k


def test_recall_counts_shared_ids_per_query():
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = np.array([[4, 3, 2, 1], [5, 9, 9, 9]])
    assert recall_at_k(found, exact) == pytest.approx((1.0 + 0.25) / 2)


def test_synthetic_vectors_are_unit_length_and_near_their_centres():
    centres = random_centres(50, 384)
    vectors = mixture(centres, 2_000, seed=7)
    assert vectors.dtype == np.float32 and vectors.shape == (2_000, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    nearest = (vectors @ centres.T).max(axis=1)
    # Paraphrase-like spread: close to one centre, never a copy of it, never unrelated.
    assert 0.55 < nearest.min() and nearest.max() < 0.95
    assert np.array_equal(vectors, mixture(centres, 2_000, seed=7))  # cached data stays valid


def test_benchmark_corpus_spreads_every_eval_paragraph_over_100_documents(tmp_path):
    from benchmarks import corpus

    try:
        corpus.eval_dir()
    except SystemExit:
        pytest.skip("eval sets not present")
    paths = corpus.write_seeds(tmp_path, documents=100)
    assert len(paths) == 100
    written = "\n".join(p.read_text(encoding="utf-8") for p in paths)
    for _, paragraphs in corpus._articles():
        assert all(p in written for p in paragraphs)
