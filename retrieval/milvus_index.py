"""The live index in Milvus, opened for querying: ``IndexStore`` over a server (or a milvus-lite file).

Usage::

    index = open_milvus_index(config, embedder.name)    # or Retriever.open(config, embedder)
    ranked, _ = index.rank(q_vector, q_terms, 20, "hybrid")

Hybrid ranking is Milvus's own ``hybrid_search``: a dense request on the passage
vectors and a BM25 request on the passages' terms, fused by its ``RRFRanker`` with
the constant the FAISS store uses (60).  The ranked passages come back with their
text and vectors, and the sentences of all of a question's passages arrive in one
query (whole paragraphs, so the extracts around them need no further round trip);
both are memoised for the next questions.  Term statistics for word coverage are
fetched for a question's terms in one query and memoised too.

An index built with the multilingual encoder holds its vectors in a second field,
``ml_vector``; ``vector_set(MULTILINGUAL, adjust)`` is a view of the same version
(same connection, same term statistics) whose ranking and vectors use that field, each
vector passed through ``adjust`` by its document's language as it arrives.  The
multilingual path (``retrieval.crosslingual``) answers through it as through the FAISS
store's.

The version is pinned when opened: queries name the version's collections, not the
alias, so a build that moves the alias never changes an index under a retriever in
use.  Reopen (``/reindex`` does) to follow the alias.  Milvus errors become
``StoreUnavailableError``.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

from core.config import Config, MilvusConfig
from core.errors import DocQAError, IndexCorruptError, IndexNotFoundError
from index.chunk import Passage, Sentence
from index.lexical import TermWeights, inverse_document_frequency
from index.milvus import (
    BUILD_HINT,
    MANIFEST_KEY,
    PASSAGE_FIELDS,
    SENTENCE_FIELDS,
    TERM_BYTES,
    VECTOR_FIELDS,
    Names,
    check_manifest,
    connect,
    dense_search_params,
    document_markers,
    load_version,
    in_filter,
    lexical_text,
    live_version,
    query_all,
    quote,
    read_manifest,
    unavailable,
)
from index.multilingual import ENGLISH, MULTILINGUAL, VectorSetInfo
from index.store import DocumentRecord
from retrieval.fusion import RRF_K

log = logging.getLogger(__name__)

MEMO = 50_000  # rows memoised per table (passages, paragraphs, terms); emptied when full

T = TypeVar("T")


def open_milvus_index(config: Config, model: str) -> "MilvusIndex":
    """Open the version the alias names, refusing one built with another ``model``.

    Raises:
        IndexNotFoundError: no build has made an alias yet.
        IndexMismatchError, IndexCorruptError, StoreUnavailableError
    """
    settings = config.milvus
    client = connect(settings)
    try:
        version = live_version(client, settings.collection)
        if version is None:
            raise IndexNotFoundError(
                f"no index in Milvus at {settings.uri} (alias {settings.collection!r} is missing); build it with: {BUILD_HINT}"
            )
        names = Names(settings.collection, version)
        if not load_version(client, names):  # a restarted server holds its collections released
            raise IndexCorruptError(f"Milvus alias {settings.collection!r} names a version with missing collections; rebuild with: {BUILD_HINT}")
        manifest = read_manifest(client, names)
        if manifest is None:
            raise IndexCorruptError(f"Milvus collection {names.documents} has no manifest; rebuild with: {BUILD_HINT}")
        check_manifest(manifest, names, model)
        manifest["documents"] = document_markers(client, names)
        return MilvusIndex(client, names, manifest, settings)
    except DocQAError:
        client.close()
        raise
    except Exception as exc:
        client.close()
        raise unavailable(settings, exc) from None


def live_milvus_version(settings: MilvusConfig) -> str | None:
    """``MilvusIndex.version`` of the version the alias names now (None: no alias yet)."""
    client = connect(settings)
    try:
        version = live_version(client, settings.collection)
        if version is None:
            return None
        names = Names(settings.collection, version)
        rows = client.query(names.documents, filter=f"key == {quote(MANIFEST_KEY)}", output_fields=["info"])
        build = json.loads(rows[0]["info"]).get("build", "") if rows else ""
        return f"{names.passages}@{build}"
    except DocQAError:
        raise
    except Exception as exc:
        raise unavailable(settings, exc) from None
    finally:
        client.close()


def _translated(method: Callable[..., T]) -> Callable[..., T]:
    """Turn a failing Milvus call into ``StoreUnavailableError`` (a reply, not a traceback)."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except DocQAError:
            raise
        except Exception as exc:
            raise unavailable(self.settings, exc) from None

    return call


class MilvusIndex:
    """One Milvus index version, opened.  Thread-safe: memo tables may compute a value twice, never a wrong one.

    ``vectors``: the vector set this object ranks by and hands out (``ENGLISH``, or in a view
    from ``vector_set`` ``MULTILINGUAL``), each passed through ``adjust`` when given.
    """

    def __init__(
        self, client, names: Names, manifest: dict[str, Any], settings: MilvusConfig,
        vectors: str = ENGLISH, adjust=None, lexical: "MilvusTerms | None" = None,
    ):
        self.client = client
        self.names = names
        self.manifest = manifest
        self.settings = settings
        self._field = VECTOR_FIELDS[vectors]
        self._adjust = adjust
        self._owns_client = lexical is None  # a view shares its parent's connection and term statistics
        self._search_params = dense_search_params(manifest.get("index_type", "flat"))
        self._passages: dict[int, tuple[Passage, np.ndarray]] = {}
        self._paragraphs: dict[tuple[str, int], list[tuple[int, Sentence]]] = {}
        self._sentence_vectors: dict[int, np.ndarray] = {}
        self.lexical = lexical or MilvusTerms(self, int(manifest["counts"]["passages"]))
        entry = manifest.get(MULTILINGUAL) if vectors == ENGLISH else None
        self.multilingual = VectorSetInfo(str(entry["model"]), int(entry["dimension"]), entry.get("model_sha256")) if entry else None

    @property
    def version(self) -> str:
        """The version's collection and the id of the build that finished it."""
        return f"{self.names.passages}@{self.manifest.get('build', '')}"

    @property
    def titles(self) -> dict[str, str]:
        return {doc: meta["title"] for doc, meta in self.manifest["documents"].items()}

    @property
    def pages(self) -> dict[str, tuple[int, ...]]:
        return {doc: tuple(meta["pages"]) for doc, meta in self.manifest["documents"].items() if meta.get("pages")}

    @property
    def languages(self) -> dict[str, str]:
        """Each document's language as the build identified it ("en" for versions built before it did)."""
        return {doc: meta.get("language", "en") for doc, meta in self.manifest["documents"].items()}

    def vector_set(self, name: str, adjust=None) -> "MilvusIndex":
        """``IndexStore.vector_set``: a view of this version ranking by and handing out ``ml_vector``."""
        if name != MULTILINGUAL or self.multilingual is None:
            raise ValueError(f"the index has no {name!r} vectors")
        return MilvusIndex(self.client, self.names, self.manifest, self.settings, name, adjust, self.lexical)

    def _vectors(self, rows: Sequence[dict], kind: str) -> np.ndarray:
        """The vectors of queried ``rows`` ("passages" or "sentences"), adjusted by their documents' languages."""
        matrix = np.array([row[self._field] for row in rows], dtype=np.float32).reshape(len(rows), -1)
        if self._adjust is None or not rows:
            return matrix
        documents = self.manifest["documents"]
        languages = [documents.get(row["doc"], {}).get("language", "en") for row in rows]
        return self._adjust(matrix, languages, kind)

    # ------------------------------------------------------------ ranking

    @_translated
    def rank(self, q_vector: np.ndarray, q_terms: list[str], n: int, mode: str) -> tuple[list[tuple[int, float]], dict[int, float]]:
        from pymilvus import AnnSearchRequest, RRFRanker

        self.lexical.prefetch(q_terms)  # one query now, so the sentence scores ask for nothing
        fields = PASSAGE_FIELDS + [self._field]
        vector = [np.asarray(q_vector, dtype=np.float32).tolist()]
        text = lexical_text(q_terms)
        dense = AnnSearchRequest(data=vector, anns_field=self._field, param=self._search_params, limit=n)
        lexical = AnnSearchRequest(data=[text], anns_field="sparse", param={"metric_type": "BM25"}, limit=n)
        if mode == "hybrid":
            requests = [dense, lexical] if text else [dense]  # no question words: the dense ranking alone
            results = self.client.hybrid_search(self.names.passages, requests, ranker=RRFRanker(RRF_K), limit=n, output_fields=fields)
        elif mode == "dense":
            results = self.client.search(self.names.passages, data=vector, anns_field=self._field, search_params=self._search_params, limit=n, output_fields=fields)
        else:
            if not text:
                return [], {}
            results = self.client.search(self.names.passages, data=[text], anns_field="sparse", search_params={"metric_type": "BM25"}, limit=n, output_fields=fields)
        ranked = []
        hits = list(results[0])
        for hit, row_vector in zip(hits, self._vectors([hit["entity"] for hit in hits], "passages")):
            entity = hit["entity"]
            pid = int(hit["id"])
            self._remember_passage(pid, entity, row_vector)
            # milvus-lite reports BM25 as a negative distance, Milvus as a positive score.
            score = abs(float(hit["distance"])) if mode == "bm25" else float(hit["distance"])
            ranked.append((pid, score))
        return ranked, (dict(ranked) if mode == "bm25" else {})

    def _remember_passage(self, pid: int, row: dict, vector: np.ndarray) -> tuple[Passage, np.ndarray]:
        passage = Passage(row["doc"], int(row["paragraph"]), int(row["paragraph_end"]), int(row["start"]), int(row["end"]), row["text"])
        return _store(self._passages, pid, (passage, vector))

    @_translated
    def _fetch_passages(self, ids: Sequence[int]) -> dict[int, tuple[Passage, np.ndarray]]:
        found = {i: self._passages[i] for i in ids if i in self._passages}
        missing = [i for i in ids if i not in found]
        if missing:
            rows = self.client.get(self.names.passages, ids=missing, output_fields=PASSAGE_FIELDS + [self._field])
            for row, vector in zip(rows, self._vectors(rows, "passages")):
                found[int(row["id"])] = self._remember_passage(int(row["id"]), row, vector)
        lost = [i for i in ids if i not in found]
        if lost:
            raise IndexCorruptError(f"Milvus collection {self.names.passages} lacks passage {lost[0]}; rebuild with: {BUILD_HINT}")
        return found

    def passages(self, ids: Sequence[int]) -> list[Passage]:
        found = self._fetch_passages(ids)
        return [found[i][0] for i in ids]

    def vectors_for_passages(self, ids: Sequence[int]) -> np.ndarray:
        found = self._fetch_passages(ids)
        return np.array([found[i][1] for i in ids], dtype=np.float32).reshape(len(ids), -1)

    @_translated
    def doc_passages(self, doc: str) -> list[tuple[int, Passage]]:
        rows = query_all(self.client, self.names.passages, f"doc == {quote(doc)}", PASSAGE_FIELDS + [self._field])
        pairs = [(int(row["id"]), self._remember_passage(int(row["id"]), row, vector)[0]) for row, vector in zip(rows, self._vectors(rows, "passages"))]
        return sorted(pairs, key=lambda pair: pair[1].start)

    # ------------------------------------------------------------ sentences

    def sentences_of(self, passages: Sequence[Passage]) -> list[list[tuple[int, Sentence]]]:
        # A passage's sentences lie in its paragraphs: fetch those whole, in one query.
        found = self._fetch_paragraphs({(p.doc, n) for p in passages for n in range(p.paragraph, p.paragraph_end + 1)})
        return [
            [(sid, s) for n in range(p.paragraph, p.paragraph_end + 1) for sid, s in found[(p.doc, n)] if s.start < p.end and s.end > p.start]
            for p in passages
        ]

    def paragraph_sentences(self, doc: str, paragraph: int) -> list[tuple[int, Sentence]]:
        return self._fetch_paragraphs({(doc, paragraph)})[(doc, paragraph)]

    @_translated
    def _fetch_paragraphs(self, wanted: set[tuple[str, int]]) -> dict[tuple[str, int], list[tuple[int, Sentence]]]:
        known = {key: self._paragraphs[key] for key in wanted if key in self._paragraphs}
        missing = sorted(key for key in wanted if key not in known)
        if not missing:
            return known
        by_doc: dict[str, list[int]] = {}
        for doc, number in missing:
            by_doc.setdefault(doc, []).append(number)
        where = " or ".join(f"(doc == {quote(doc)} and paragraph in {numbers})" for doc, numbers in by_doc.items())
        found: dict[tuple[str, int], list[tuple[int, Sentence]]] = {key: [] for key in missing}
        rows = query_all(self.client, self.names.sentences, where, SENTENCE_FIELDS + [self._field])
        for row, vector in zip(rows, self._vectors(rows, "sentences")):
            sid = int(row["id"])
            sentence = Sentence(row["doc"], int(row["paragraph"]), int(row["start"]), int(row["end"]), row["text"])
            found.setdefault((sentence.doc, sentence.paragraph), []).append((sid, sentence))
            _store(self._sentence_vectors, sid, vector)
        for key, rows in found.items():
            known[key] = _store(self._paragraphs, key, sorted(rows, key=lambda pair: pair[1].start))
        return known

    @_translated
    def doc_sentences(self, doc: str) -> list[tuple[int, Sentence]]:
        out = []
        rows = query_all(self.client, self.names.sentences, f"doc == {quote(doc)}", SENTENCE_FIELDS + [self._field])
        for row, vector in zip(rows, self._vectors(rows, "sentences")):
            sid = int(row["id"])
            out.append((sid, Sentence(row["doc"], int(row["paragraph"]), int(row["start"]), int(row["end"]), row["text"])))
            _store(self._sentence_vectors, sid, vector)
        return sorted(out, key=lambda pair: pair[1].start)

    @_translated
    def vectors_for_sentences(self, ids: Sequence[int]) -> np.ndarray:
        found = {i: self._sentence_vectors[i] for i in ids if i in self._sentence_vectors}
        missing = [i for i in ids if i not in found]
        for group in (missing[i : i + 1000] for i in range(0, len(missing), 1000)):
            rows = self.client.get(self.names.sentences, ids=group, output_fields=["doc", self._field])
            for row, vector in zip(rows, self._vectors(rows, "sentences")):
                found[int(row["id"])] = _store(self._sentence_vectors, int(row["id"]), vector)
        lost = [i for i in ids if i not in found]
        if lost:
            raise IndexCorruptError(f"Milvus collection {self.names.sentences} lacks sentence {lost[0]}; rebuild with: {BUILD_HINT}")
        return np.array([found[i] for i in ids], dtype=np.float32).reshape(len(ids), -1)

    # ------------------------------------------------------------ documents

    @_translated
    def document(self, doc: str) -> DocumentRecord | None:
        meta = self.manifest["documents"].get(doc)
        if meta is None:
            return None
        parts = query_all(self.client, self.names.documents, f"doc == {quote(doc)}", ["part", "text"])
        text = "".join(row["text"] for row in sorted(parts, key=lambda row: row["part"]))
        return DocumentRecord(doc, meta["title"], meta["sha256"], text)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()


class MilvusTerms(TermWeights):
    """Document frequencies of terms over the passages, from the version's terms collection, memoised."""

    def __init__(self, index: MilvusIndex, passages: int):
        self._index = index
        self._passages = passages
        self._df: dict[str, int] = {}

    def prefetch(self, question_terms: Sequence[str]) -> None:
        """Fetch the frequencies of ``question_terms`` not known yet, in one query."""
        keys = {t: lexical_text([t]) for t in set(question_terms) if t not in self._df}
        if not keys:
            return
        index = self._index
        asked = [k for k in set(keys.values()) if len(k.encode("utf-8")) <= TERM_BYTES]
        found = {}
        if asked:
            try:
                rows = index.client.query(index.names.terms, filter=in_filter("term", asked), output_fields=["term", "df"])
            except Exception as exc:
                raise unavailable(index.settings, exc) from None
            found = {row["term"]: int(row["df"]) for row in rows}
        for term, key in keys.items():
            _store(self._df, term, found.get(key, 0))

    def _frequency(self, term: str) -> int:
        df = self._df.get(term)
        if df is None:
            self.prefetch([term])
            df = self._df.get(term, 0)
        return df

    def idf(self, term: str) -> float:
        return inverse_document_frequency(self._passages, self._frequency(term))

    def known(self, term: str) -> bool:
        return self._frequency(term) > 0


def _store(table: dict, key, value: T) -> T:
    """Memoise ``value`` and return it; the table is emptied when it reaches ``MEMO`` entries."""
    if len(table) >= MEMO:
        table.clear()
    table[key] = value
    return value
