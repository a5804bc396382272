"""The index's second vector set: every sentence and passage embedded by the multilingual encoder.

Usage::

    plan = MultilingualPlan.make(passages, sentences, previous_sentence_rows, previous_passage_rows, previous)
    vectors = plan.embed(encoder, embed, index_type)  # sentence and passage matrices, FAISS index
    vectors.write(version_dir)                        # ml_*.npy, ml_faiss.index
    loaded = read_multilingual(version_dir, manifest) # at query time (None if the build had none)
    sentence_matrix, matrix = plan.vectors(encoder, embed)   # the vectors alone (the Milvus store's rows)

Row i is passage (or sentence) id i in both vector sets, so the store, BM25 and the
citations are shared.  A passage's multilingual vector is the sum of the passage's own
embedding and the mean of its sentences' embeddings (not normalised: its inner product
with a question is the sum of the two cosines).  On the German, Spanish, Russian and
Chinese questions against the English articles, the passage embedding alone found the
right passage first more often than the sentence mean (German 0.81 against 0.76), and
the sum more often still (0.81, Spanish 0.85, Chinese 0.65 against 0.60); see
docs/quality.md.  Unchanged documents keep their vectors from the previous build when it
used the same model and scheme.  The manifest records both under ``"multilingual"``; an
index built without the multilingual path has no such key.

Both stores hold the set: the FAISS store in the files above, the Milvus store as a
second vector field of its passages and sentences (``index.milvus``).  At query time it is
the vector set named ``MULTILINGUAL``, beside ``ENGLISH`` (``retrieval.index_store``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from core.errors import IndexCorruptError
from index.chunk import Passage, Sentence
from index.faiss_build import make_faiss_index, read_faiss_index

VECTORS = "ml_vectors.npy"
SENTENCE_VECTORS = "ml_sentence_vectors.npy"
FAISS_INDEX = "ml_faiss.index"
MANIFEST_KEY = "multilingual"
BUILD_HINT = "python -m index build"
PASSAGE_VECTORS = "passage + mean of sentences"  # recorded in the manifest; another scheme is re-embedded
# The vector sets an index store searches (``IndexStore.rank(..., vectors=...)``).
ENGLISH = "english"
MULTILINGUAL = MANIFEST_KEY


@dataclass(frozen=True)
class VectorSetInfo:
    """A built multilingual vector set as its manifest entry describes it (the Milvus store's ``multilingual``)."""

    model: str
    dimension: int
    model_sha256: str | None = None


def entry_for(encoder) -> dict:
    """The manifest entry a build with ``encoder`` writes (and compares with the previous build's)."""
    return {
        "model": encoder.name, "model_sha256": getattr(encoder, "weights_sha256", None), "dimension": int(encoder.dimension),
        "passage_vectors": PASSAGE_VECTORS,
    }


@dataclass
class MultilingualIndex:
    """The multilingual vectors of one index version (built, or read back)."""

    model: str
    dimension: int
    vectors: np.ndarray  # (passages, dimension)
    sentence_vectors: np.ndarray  # (sentences, dimension)
    faiss_index: Any
    model_sha256: str | None = None

    def manifest_entry(self) -> dict:
        return {
            "model": self.model, "model_sha256": self.model_sha256, "dimension": self.dimension,
            "passage_vectors": PASSAGE_VECTORS,
        }

    def write(self, work: Path) -> None:
        import faiss

        np.save(work / VECTORS, np.ascontiguousarray(self.vectors, dtype=np.float32), allow_pickle=False)
        np.save(work / SENTENCE_VECTORS, np.ascontiguousarray(self.sentence_vectors, dtype=np.float32), allow_pickle=False)
        faiss.write_index(self.faiss_index, str(work / FAISS_INDEX))


@dataclass
class MultilingualPlan:
    """What a build must embed with the multilingual encoder, and what it can reuse."""

    passages: list[Passage]
    sentences: list[Sentence]
    members: list[list[int]]  # per passage: the rows of the sentences inside it
    reused: list[np.ndarray | None]  # per sentence: the previous build's vector, or None to embed
    reused_passages: list[np.ndarray | None]  # per passage: the previous build's vector, or None to embed

    @classmethod
    def make(
        cls,
        passages: list[Passage],
        sentences: list[Sentence],
        previous_rows: Sequence[int | None],
        previous_passage_rows: Sequence[int | None],
        previous: MultilingualIndex | None,
    ) -> "MultilingualPlan":
        """``previous_rows[i]`` (``previous_passage_rows[i]``): sentence (passage) i's row in the
        previous build, None if it is new."""
        reused = _rows(previous.sentence_vectors if previous is not None else None, previous_rows)
        reused_passages = _rows(previous.vectors if previous is not None else None, previous_passage_rows)
        return cls(passages, sentences, passage_members(passages, sentences), reused, reused_passages)

    @property
    def texts(self) -> list[str]:
        """The texts to embed: new sentences, then new passages."""
        return [s.text for s, v in zip(self.sentences, self.reused) if v is None] + [
            p.text for p, v in zip(self.passages, self.reused_passages) if v is None
        ]

    def embed(self, encoder, embed: Callable[[Sequence[str]], np.ndarray], index_type: str) -> MultilingualIndex:
        """Embed what is new with ``embed`` (the build's batching helper) and assemble the set."""
        sentence_matrix, matrix = self.vectors(encoder, embed)
        faiss_index = make_faiss_index(matrix, index_type)
        return MultilingualIndex(
            encoder.name, int(encoder.dimension), matrix, sentence_matrix, faiss_index, getattr(encoder, "weights_sha256", None)
        )

    def vectors(self, encoder, embed: Callable[[Sequence[str]], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(sentence vectors, passage vectors), row i for sentence (passage) i: reused, or embedded now with ``embed``."""
        fresh = embed(self.texts)
        dimension = int(encoder.dimension)
        primary = int(getattr(encoder, "primary_dimension", dimension))
        sentence_matrix = np.zeros((len(self.sentences), dimension), dtype=np.float32)
        row = 0
        for i, vector in enumerate(self.reused):
            if vector is None:
                sentence_matrix[i] = fresh[row]
                row += 1
            else:
                sentence_matrix[i] = vector
        matrix = np.zeros((len(self.passages), dimension), dtype=np.float32)
        for i, (members, vector) in enumerate(zip(self.members, self.reused_passages)):
            if vector is not None:
                matrix[i] = vector
                continue
            own = fresh[row]
            row += 1
            matrix[i] = own
            # The sum applies to the (first) encoder's part; a fused encoder's second part
            # (core.multilingual.FusedEmbedder) is the passage's own embedding, as measured.
            if members:
                mean = sentence_matrix[members, :primary].mean(axis=0)
                matrix[i, :primary] += mean / (np.linalg.norm(mean) or 1.0)
            else:  # a piece of an overlong sentence: its own embedding counts twice
                matrix[i, :primary] *= 2
        return sentence_matrix, matrix


def _rows(matrix: np.ndarray | None, rows: Sequence[int | None]) -> list[np.ndarray | None]:
    """``matrix[row]`` for each row that exists in it, else None."""
    if matrix is None:
        return [None] * len(rows)
    return [matrix[r] if r is not None and r < len(matrix) else None for r in rows]


def passage_members(passages: list[Passage], sentences: list[Sentence]) -> list[list[int]]:
    """Per passage, the rows of the whole sentences inside it (none for a piece of an overlong sentence)."""
    by_doc: dict[str, list[int]] = {}
    for row, s in enumerate(sentences):
        by_doc.setdefault(s.doc, []).append(row)
    starts = {doc: [sentences[r].start for r in rows] for doc, rows in by_doc.items()}
    out: list[list[int]] = []
    for p in passages:
        rows = by_doc.get(p.doc, [])
        n = bisect.bisect_left(starts.get(p.doc, []), p.start)
        members = []
        while n < len(rows) and sentences[rows[n]].end <= p.end:
            members.append(rows[n])
            n += 1
        out.append(members)
    return out


def read_multilingual(version_dir: Path, manifest: dict) -> MultilingualIndex | None:
    """The multilingual vectors of an index version, or None if it was built without them.

    Raises:
        IndexCorruptError: the manifest names them but a file is missing or does not match.
    """
    entry = manifest.get(MANIFEST_KEY)
    if not entry:
        return None
    try:
        model, dimension = str(entry["model"]), int(entry["dimension"])
        counts = manifest["counts"]
        expected = {VECTORS: int(counts["passages"]), SENTENCE_VECTORS: int(counts["sentences"])}
    except (KeyError, TypeError, ValueError):
        raise IndexCorruptError(f"{version_dir / 'manifest.json'} has an incomplete {MANIFEST_KEY!r} entry; rebuild with: {BUILD_HINT}") from None
    arrays = {}
    for name, rows in expected.items():
        path = version_dir / name
        try:
            array = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise IndexCorruptError(f"{path} is missing; rebuild with: {BUILD_HINT}") from None
        except (OSError, ValueError, EOFError) as exc:
            raise IndexCorruptError(f"{path} is truncated or corrupt ({exc}); rebuild with: {BUILD_HINT}") from None
        if array.shape != (rows, dimension) or array.dtype != np.float32:
            raise IndexCorruptError(
                f"{path} holds {array.shape} {array.dtype}, manifest says {(rows, dimension)} float32; rebuild with: {BUILD_HINT}"
            )
        arrays[name] = array
    path = version_dir / FAISS_INDEX
    if not path.is_file():
        raise IndexCorruptError(f"{path} is missing; rebuild with: {BUILD_HINT}")
    try:
        faiss_index = read_faiss_index(path)
    except RuntimeError:
        raise IndexCorruptError(f"{path} is truncated or corrupt; rebuild with: {BUILD_HINT}") from None
    if faiss_index.ntotal != expected[VECTORS] or faiss_index.d != dimension:
        raise IndexCorruptError(f"{path} does not match the manifest; rebuild with: {BUILD_HINT}")
    return MultilingualIndex(model, dimension, arrays[VECTORS], arrays[SENTENCE_VECTORS], faiss_index, entry.get("model_sha256"))
