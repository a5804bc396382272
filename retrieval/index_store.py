"""What the retriever asks of an index, whichever store holds it: FAISS files or Milvus.

Usage::

    index = open_index(config, embedder.name)       # [index] store picks the implementation
    ranked, bm25 = index.rank(q_vector, q_terms, 20, "hybrid")   # [(passage id, score)], best first
    passages = index.passages([i for i, _ in ranked])
    ml = index.vector_set(MULTILINGUAL, adjust)     # the same index, searched by the multilingual vectors

Two implementations: ``retrieval.load.LoadedIndex`` (a version folder: FAISS, bm25s,
SQLite, in this process) and ``retrieval.milvus_index.MilvusIndex`` (a Milvus
collection, searched by its own hybrid search).  Ranking and storage live behind
this interface; sentence scoring, abstention and citations (``retrieval.retriever``)
are the same code for both.

An index holds one or two vector sets over the same passages and sentences: ``ENGLISH``
(the ``[index] model``) and, when the build had a multilingual encoder, ``MULTILINGUAL``
(``index.multilingual``).  ``vector_set`` gives the same store with the other set as its
dense side (ranking and the vectors it hands out); BM25, text and citations are shared.
The multilingual path (``retrieval.crosslingual``) answers through that view, the same
code over either store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from core.config import Config
from index.chunk import Passage, Sentence
from index.lexical import TermWeights
from index.multilingual import ENGLISH, MULTILINGUAL  # noqa: F401 (the vector set names, re-exported)
from index.store import DocumentRecord

# Applied to a vector set's vectors as a view hands them out: (vectors, the language of
# each row's document, "passages" or "sentences") -> vectors.  The multilingual path
# centres them by language (``retrieval.crosslingual``).
Adjust = Callable[[np.ndarray, Sequence[str], str], np.ndarray]


class IndexStore(Protocol):
    """One opened index version.  Safe for concurrent reads."""

    # "counts" (documents, passages, sentences), "model", "dimension" and "documents":
    # {doc: {"title", "sha256", "passages", optional "pages", optional "source", optional "language"}}
    # ("source": the URL of the original, for documents that came from a link or a channel post;
    # "language": as the build identified it, missing in indexes built before it did).
    manifest: dict[str, Any]
    # Term statistics of the passages, for the sentence score's word coverage.
    lexical: TermWeights
    # The multilingual vector set as built (``.model``, ``.dimension``), or None: the build had none
    # (and None in a view from ``vector_set``).
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

    def rank(self, q_vector: np.ndarray, q_terms: list[str], n: int, mode: str) -> tuple[list[tuple[int, float]], dict[int, float]]:
        """Up to ``n`` passages by ``mode`` ("hybrid": BM25 and cosine fused by reciprocal rank,
        "bm25", "dense"), best first, with their scores; and the BM25 scores known for them."""
        ...

    def passages(self, ids: Sequence[int]) -> list[Passage]:
        """Passages with these ids, in this order (IndexCorruptError if one is missing)."""
        ...

    def vectors_for_passages(self, ids: Sequence[int]) -> np.ndarray:
        """The passages' normalised vectors, one row per id."""
        ...

    def doc_passages(self, doc: str) -> list[tuple[int, Passage]]:
        """All (id, passage) pairs of ``doc``, in document order."""
        ...

    def sentences_of(self, passages: Sequence[Passage]) -> list[list[tuple[int, Sentence]]]:
        """For each passage, the (id, sentence) pairs overlapping it, in document order."""
        ...

    def paragraph_sentences(self, doc: str, paragraph: int) -> list[tuple[int, Sentence]]: ...

    def doc_sentences(self, doc: str) -> list[tuple[int, Sentence]]: ...

    def vectors_for_sentences(self, ids: Sequence[int]) -> np.ndarray:
        """The sentences' vectors (computed at build time), one row per id."""
        ...

    def vector_set(self, name: str, adjust: Adjust | None = None) -> "IndexStore":
        """This index with the vector set ``name`` (``MULTILINGUAL``) as its dense side: ``rank``
        searches it, ``vectors_for_*`` return its vectors passed through ``adjust``.  Shares
        this index's connection or files: close this one, not the view.

        Raises:
            ValueError: the index has no such set.
        """
        ...

    def document(self, doc: str) -> DocumentRecord | None: ...

    def close(self) -> None: ...


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
