"""Load a built index for querying: manifest, FAISS index, passage store, vectors, BM25.

``LoadedIndex`` is the default implementation of ``retrieval.index_store.IndexStore``:
a version folder searched inside this process.

Every failure is a one-line domain error naming the file and the command that
fixes it (``python -m index build``).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.errors import IndexCorruptError
from index.chunk import Passage, Sentence
from index.faiss_build import read_faiss_index
from index.lexical import LexicalIndex
from index.multilingual import MULTILINGUAL, MultilingualIndex, read_multilingual
from index.store import (
    BM25_DIR, BUILD_HINT, FAISS_INDEX, STORE, DocumentRecord, PassageStore, check_model, current_dir, read_manifest, read_vectors,
)
from retrieval.fusion import reciprocal_rank_fusion

log = logging.getLogger(__name__)


@dataclass
class LoadedIndex:
    """One index version, opened: what the retriever searches."""

    version_dir: Path
    manifest: dict[str, Any]
    faiss_index: Any
    store: PassageStore
    vectors: Any  # float32 (passages, dimension); row i == passage id i
    sentence_vectors: Any  # float32 (sentences, dimension); row i == sentence id i
    lexical: LexicalIndex  # BM25 over the passages, row i == passage id i
    multilingual: MultilingualIndex | None = None  # the second vector set, if the build made one

    @property
    def version(self) -> str:
        """The version folder's name, which ``current`` points at while it is live."""
        return self.version_dir.name

    @property
    def titles(self) -> dict[str, str]:
        return {doc: meta["title"] for doc, meta in self.manifest["documents"].items()}

    @property
    def languages(self) -> dict[str, str]:
        """Each document's language ("en", "ru", ...) as the build identified it ("en" for older indexes)."""
        return {doc: meta.get("language", "en") for doc, meta in self.manifest["documents"].items()}

    @property
    def pages(self) -> dict[str, tuple[int, ...]]:
        """Where each page of a PDF starts in its text, for the documents that have pages."""
        return {doc: tuple(meta["pages"]) for doc, meta in self.manifest["documents"].items() if meta.get("pages")}

    def rank(self, q_vector: np.ndarray, q_terms: list[str], n: int, mode: str) -> tuple[list[tuple[int, float]], dict[int, float]]:
        """Up to ``n`` passages by FAISS cosine and/or bm25s BM25, fused by reciprocal rank in "hybrid" mode."""
        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        if mode in ("hybrid", "dense"):
            scores, ids = self.faiss_index.search(q_vector[None, :], n)
            dense = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        if mode in ("hybrid", "bm25"):
            lexical = self.lexical.search(q_terms, n)
        if mode == "hybrid":
            ranked = reciprocal_rank_fusion([[i for i, _ in dense], [i for i, _ in lexical]])
        else:
            ranked = dense or lexical
        return ranked, dict(lexical)

    def passages(self, ids: Sequence[int]) -> list[Passage]:
        return self.store.passages(list(ids))

    def vectors_for_passages(self, ids: Sequence[int]) -> np.ndarray:
        return self.vectors[list(ids)]

    def doc_passages(self, doc: str) -> list[tuple[int, Passage]]:
        return self.store.doc_passages(doc)

    def sentences_of(self, passages: Sequence[Passage]) -> list[list[tuple[int, Sentence]]]:
        return [self.store.sentences_between(p.doc, p.start, p.end) for p in passages]

    def paragraph_sentences(self, doc: str, paragraph: int) -> list[tuple[int, Sentence]]:
        return self.store.paragraph_sentences(doc, paragraph)

    def doc_sentences(self, doc: str) -> list[tuple[int, Sentence]]:
        return self.store.doc_sentences(doc)

    def vectors_for_sentences(self, ids: Sequence[int]) -> np.ndarray:
        return self.sentence_vectors[list(ids)]

    def document(self, doc: str) -> DocumentRecord | None:
        return self.store.document(doc)

    def vector_set(self, name: str, adjust=None) -> "LoadedIndex":
        """``IndexStore.vector_set``: the multilingual FAISS index and matrices in place of the
        English ones (``adjust`` applied once, here, to whole matrices)."""
        ml = self.multilingual
        if name != MULTILINGUAL or ml is None:
            raise ValueError(f"the index has no {name!r} vectors")
        vectors, sentence_vectors = ml.vectors, ml.sentence_vectors
        if adjust is not None:
            sentences_of, passages_of = self._row_languages()
            vectors, sentence_vectors = adjust(vectors, passages_of, "passages"), adjust(sentence_vectors, sentences_of, "sentences")
        return dataclasses.replace(self, faiss_index=ml.faiss_index, vectors=vectors, sentence_vectors=sentence_vectors, multilingual=None)

    def _row_languages(self) -> tuple[list[str], list[str]]:
        """Each sentence's and each passage's document language, by row."""
        sentences = [""] * int(self.manifest["counts"]["sentences"])
        passages = [""] * int(self.manifest["counts"]["passages"])
        for doc, lang in self.languages.items():
            for sid, _ in self.store.doc_sentences(doc):
                sentences[sid] = lang
            for pid, _ in self.store.doc_passages(doc):
                passages[pid] = lang
        return sentences, passages

    def close(self) -> None:
        self.store.close()


def load_index(index_dir: Path, model: str) -> LoadedIndex:
    """Open the current index in ``index_dir``, refusing one built with another ``model``.

    Raises:
        IndexNotFoundError, IndexCorruptError, IndexMismatchError
    """
    version_dir = current_dir(index_dir)
    manifest = read_manifest(version_dir)
    check_model(manifest, version_dir, model)
    try:
        passages = int(manifest["counts"]["passages"])
        int(manifest["counts"]["sentences"])
        dimension = int(manifest["dimension"])
        manifest["documents"].items()
    except (KeyError, TypeError, ValueError, AttributeError):
        raise IndexCorruptError(f"{version_dir / 'manifest.json'} is incomplete; rebuild with: {BUILD_HINT}") from None
    path = version_dir / FAISS_INDEX
    if not path.is_file():
        raise IndexCorruptError(f"{path} is missing; rebuild with: {BUILD_HINT}")
    try:
        faiss_index = read_faiss_index(path)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise IndexCorruptError(f"{path} is truncated or corrupt ({reason}); rebuild with: {BUILD_HINT}") from None
    if faiss_index.ntotal != passages or faiss_index.d != dimension:
        raise IndexCorruptError(
            f"{path} holds {faiss_index.ntotal} vectors of dimension {faiss_index.d}, manifest says "
            f"{passages} of {dimension}; rebuild with: {BUILD_HINT}"
        )
    # Read into memory, not memory-mapped: a file damaged after loading must not crash a
    # serving process (the passage store is copied to memory for the same reason).
    vectors = read_vectors(version_dir, manifest)
    sentence_vectors = read_vectors(version_dir, manifest, sentences=True)
    store = PassageStore(version_dir / STORE)
    if manifest["format"] >= 3:
        lexical = LexicalIndex.load(version_dir / BM25_DIR, passages)
    else:
        log.info("%s predates saved BM25: building it now (rebuild to save it)", version_dir)
        lexical = LexicalIndex.build(p.text for _, p in store.all_passages())
    multilingual = read_multilingual(version_dir, manifest)
    return LoadedIndex(version_dir, manifest, faiss_index, store, vectors, sentence_vectors, lexical, multilingual)
