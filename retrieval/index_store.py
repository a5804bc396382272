"""What the retriever asks of an index, whichever store holds it: FAISS files or Milvus.

Usage::

    index = open_index(config, embedder.name)       # [index] store picks the implementation
    ranked, bm25 = index.rank(q_vector, q_terms, 20, "hybrid")   # [(passage id, score)], best first
    passages = index.passages([i for i, _ in ranked])
    ranked, _ = index.rank(ml_vector, q_terms, 20, "dense", vectors=MULTILINGUAL)   # the second vector set

Two implementations: ``retrieval.load.LoadedIndex`` (a version folder: FAISS, bm25s,
SQLite, in this process) and ``retrieval.milvus_index.MilvusIndex`` (a Milvus
collection, searched by its own hybrid search).  Ranking and storage live behind
this interface; sentence scoring, abstention and citations (``retrieval.retriever``)
are the same code for both.

An index holds one or two vector sets over the same passages and sentences: ``ENGLISH``
(the ``[index] model``) and, when the build had a multilingual encoder, ``MULTILINGUAL``
(``index.multilingual``).  Dense ranking and the stored vectors are asked for by set;
BM25, text and citations are shared.  ``retrieval.vector_view`` turns a store into one
whose dense side is the multilingual set, which is what the multilingual path searches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from core.config import Config
from index.chunk import Passage, Sentence
from index.lexical import TermWeights
from index.multilingual import ENGLISH, MULTILINGUAL  # noqa: F401 (the vector set names, re-exported)
from index.store import DocumentRecord


class IndexStore(Protocol):
    """One opened index version.  Safe for concurrent reads."""

    # "counts" (documents, passages, sentences), "model", "dimension" and "documents":
    # {doc: {"title", "sha256", "passages", optional "pages", optional "source"}} ("source": the
    # URL of the original, for documents that came from a link or a channel post).
    manifest: dict[str, Any]
    # Term statistics of the passages, for the sentence score's word coverage.
    lexical: TermWeights
    # The multilingual vector set as built (``.model``, ``.dimension``), or None: the build had none.
    multilingual: Any

    @property
    def version(self) -> str:
        """Names this build of the index; ``live_version`` returns the same string while it is live."""
        ...

    @property
    def titles(self) -> dict[str, str]: ...

    @property
    def pages(self) -> dict[str, tuple[int, ...]]: ...

    @property
    def languages(self) -> dict[str, str]:
        """Each document's language ("en", "ru", ...) as the build identified it ("en" when it did not)."""
        ...

    def rank(
        self, q_vector: np.ndarray, q_terms: list[str], n: int, mode: str, vectors: str = ENGLISH
    ) -> tuple[list[tuple[int, float]], dict[int, float]]:
        """Up to ``n`` passages by ``mode`` ("hybrid": BM25 and cosine fused by reciprocal rank,
        "bm25", "dense"), best first, with their scores; and the BM25 scores known for them.
        Cosines are against the vector set ``vectors`` (``q_vector`` is its model's)."""
        ...

    def passages(self, ids: Sequence[int]) -> list[Passage]:
        """Passages with these ids, in this order (IndexCorruptError if one is missing)."""
        ...

    def vectors_for_passages(self, ids: Sequence[int], vectors: str = ENGLISH) -> np.ndarray:
        """The passages' vectors in the set ``vectors``, one row per id."""
        ...

    def passage_languages(self, ids: Sequence[int]) -> list[str]:
        """The language of each passage's document, one per id."""
        ...

    def doc_passages(self, doc: str) -> list[tuple[int, Passage]]:
        """All (id, passage) pairs of ``doc``, in document order."""
        ...

    def sentences_of(self, passages: Sequence[Passage]) -> list[list[tuple[int, Sentence]]]:
        """For each passage, the (id, sentence) pairs overlapping it, in document order."""
        ...

    def paragraph_sentences(self, doc: str, paragraph: int) -> list[tuple[int, Sentence]]: ...

    def doc_sentences(self, doc: str) -> list[tuple[int, Sentence]]: ...

    def vectors_for_sentences(self, ids: Sequence[int], vectors: str = ENGLISH) -> np.ndarray:
        """The sentences' vectors in the set ``vectors`` (computed at build time), one row per id."""
        ...

    def sentence_languages(self, ids: Sequence[int]) -> list[str]:
        """The language of each sentence's document, one per id."""
        ...

    def document(self, doc: str) -> DocumentRecord | None: ...

    def close(self) -> None: ...


def document_languages(manifest: dict[str, Any]) -> dict[str, str]:
    """``IndexStore.languages`` from a manifest's documents ("en" for those built before languages were recorded)."""
    return {doc: meta.get("language", "en") for doc, meta in manifest["documents"].items()}


def live_version(config: Config, index_dir: Path | None = None) -> str | None:
    """The version a newly opened index would be (None: no index built yet).

    Cheap enough to poll every few seconds: the ``current`` link of the index folder, or
    the Milvus alias and the build id in its manifest.  Replicas compare it with the
    ``version`` they serve to follow builds made by other processes.

    Raises:
        StoreUnavailableError: the Milvus server does not answer.
    """
    if config.index.store == "milvus":
        from retrieval.milvus_index import live_milvus_version

        return live_milvus_version(config.milvus)
    from core.errors import IndexNotFoundError
    from index.store import current_dir

    try:
        return current_dir(Path(index_dir or config.index.dir)).name
    except IndexNotFoundError:
        return None


def open_index(config: Config, model: str, index_dir: Path | None = None) -> IndexStore:
    """Open the live index of the configured store, refusing one built with another ``model``.

    Raises:
        IndexNotFoundError, IndexCorruptError, IndexMismatchError (and, for Milvus,
        StoreUnavailableError when the server does not answer).
    """
    if config.index.store == "milvus":
        from retrieval.milvus_index import open_milvus_index

        return open_milvus_index(config, model)
    from retrieval.load import load_index

    return load_index(Path(index_dir or config.index.dir), model)
