"""Synthetic passage vectors with the structure of real ones, for the scale benchmark.

Embedding a million real passages takes about a day on a 2-core machine, and uniformly
random vectors have no neighbourhoods for an approximate index to find (any benchmark on
them says nothing).  So each synthetic vector is a real passage or sentence embedding
(a "centre") plus Gaussian noise of a random strength, renormalised: cosine to its centre
between about 0.65 and 0.86, like paraphrases of one passage.  Questions are real
question embeddings.
"""

from __future__ import annotations

import numpy as np

NOISE_MIN = 0.03  # per-dimension standard deviation at 384 dimensions: cosine ~0.86 to the centre
NOISE_MAX = 0.06  # cosine ~0.65
_CHUNK = 100_000


def mixture(centres: np.ndarray, n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` L2-normalised float32 vectors scattered around random rows of ``centres``."""
    rng = np.random.default_rng(seed)
    dim = centres.shape[1]
    out = np.empty((n, dim), dtype=np.float32)
    scale = np.sqrt(384 / dim)  # keep the cosine range whatever the dimension
    for start in range(0, n, _CHUNK):
        rows = min(_CHUNK, n - start)
        picks = rng.integers(0, len(centres), rows)
        sigma = rng.uniform(NOISE_MIN, NOISE_MAX, (rows, 1)).astype(np.float32) * scale
        block = centres[picks] + sigma * rng.standard_normal((rows, dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + rows] = block
    return out


def random_centres(count: int, dim: int, *, seed: int = 1) -> np.ndarray:
    """Normalised random centres, for tests that need structure but no model."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((count, dim), dtype=np.float32)
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of the exact top-k ids that ``found`` (same shape) also returns."""
    k = exact.shape[1]
    return float(np.mean([len(set(f) & set(e)) / k for f, e in zip(found.tolist(), exact.tolist())]))
