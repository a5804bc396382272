"""Milvus as the index store: names, schemas and the connection, shared by the build and the retriever.

Usage::

    client = connect(config.milvus)                       # StoreUnavailableError if it does not answer
    version = live_version(client, config.milvus.collection)     # "a", "b", or None before the first build
    names = Names(config.milvus.collection, version)      # names.passages, .sentences, .documents, .terms
    manifest = read_manifest(client, names)

One index version is four collections, named after the alias (``[milvus] collection``,
"docqa" by default) and the version, "a" or "b":

    docqa_a             passages: offsets, text, the dense vector (mean of its sentences'), and
                        a BM25 sparse vector made by Milvus's BM25 function from ``lexical``
    docqa_a_sentences   sentences: offsets, text, vector (scored against the question)
    docqa_a_documents   per document: its text in 16,000-character parts, the first part
                        carrying title, sha256, language, pages and counts (written last: a document
                        whose first part is missing is rewritten by the next build); and the
                        manifest, key "#manifest"
    docqa_a_terms       document frequency of each term over the passages (the word-coverage
                        weights of the sentence score)

With ``[index] multilingual_model`` set, passages and sentences carry a second dense
field, ``ml_vector``: the multilingual encoder's vectors (``index.multilingual``), searched
as the vector set ``"multilingual"`` where ``vector`` is ``"english"``.  A version without
it (English only) has no such field; the manifest's ``"multilingual"`` entry says which.

The alias ``docqa`` names the live version's passage collection.  A build updates the
other version by document (delete, then insert) until it matches the seeds folder,
flushes it, then moves the alias: readers see the old version or the new one, never a
half-written one, as Milvus documents for zero-downtime reindexing.  A build killed
midway leaves the alias where it was; the version it was writing is marked "building"
and repaired by the next build.

Text for BM25: ``lexical`` holds the passage's terms as ``index.lexical.terms`` makes
them (lower-cased, stop words dropped, cut to five letters), so Milvus's analyzer only
splits on spaces and BM25 weighs the same words as the FAISS store's bm25s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from core.config import Config, MilvusConfig
from core.errors import IndexCorruptError, IndexMismatchError, StoreUnavailableError
from index.multilingual import ENGLISH, MULTILINGUAL

if TYPE_CHECKING:
    from pymilvus import MilvusClient

log = logging.getLogger(__name__)

FORMAT = 1  # layout of the collections below; a change makes the next build start afresh
VERSIONS = ("a", "b")
MANIFEST_KEY = "#manifest"
TEXT_PART = 16_000  # characters per document part: at most 64,000 bytes of UTF-8, under VARCHAR's 65,535
VARCHAR_BYTES = 65_535
DOC_BYTES = 2_048  # longest document name (a path relative to the seeds folder)
TERM_BYTES = 512  # longer "terms" (hashes, run-together text) get no statistics: they weigh as unseen words
QUERY_LIMIT = 16_384  # Milvus's cap on rows per query; larger reads page through query_iterator
BATCH = 500  # rows per insert call, names per "in" filter
BM25 = {"bm25_k1": 1.5, "bm25_b": 0.75}  # bm25s's defaults, which the FAISS store uses
HNSW = {"M": 32, "efConstruction": 80}  # as index.faiss_build
HNSW_EF_SEARCH = 256
IVF_PROBE = 16
BUILD_HINT = "python -m index build"
# The dense field of each vector set.
VECTOR_FIELDS = {ENGLISH: "vector", MULTILINGUAL: "ml_vector"}
PASSAGE_FIELDS = ["id", "doc", "paragraph", "paragraph_end", "start", "end", "text"]
SENTENCE_FIELDS = ["id", "doc", "paragraph", "start", "end", "text"]


@dataclass(frozen=True)
class Names:
    """The collections of one index version."""

    alias: str
    version: str

    @property
    def passages(self) -> str:
        return f"{self.alias}_{self.version}"

    @property
    def sentences(self) -> str:
        return f"{self.alias}_{self.version}_sentences"

    @property
    def documents(self) -> str:
        return f"{self.alias}_{self.version}_documents"

    @property
    def terms(self) -> str:
        return f"{self.alias}_{self.version}_terms"

    @property
    def all(self) -> tuple[str, str, str, str]:
        return (self.passages, self.sentences, self.documents, self.terms)


def connect(settings: MilvusConfig) -> "MilvusClient":
    """A client for ``settings.uri``, with the token from ``settings.token_env`` if set.

    Raises:
        StoreUnavailableError: the server does not answer (the message names the address, never the token).
    """
    from pymilvus import MilvusClient

    token = os.environ.get(settings.token_env, "")
    try:
        # dedicated: pymilvus otherwise shares one channel per address for the life of the
        # process, and a channel that saw the server go down may refuse to come back.
        return MilvusClient(uri=settings.uri, token=token, timeout=30, dedicated=True)
    except Exception as exc:  # pymilvus raises MilvusException, grpc errors or plain ones by version
        raise unavailable(settings, exc) from None


def unavailable(settings: MilvusConfig, exc: BaseException) -> StoreUnavailableError:
    """The domain error for a failed Milvus call: the address and the reason, never the token."""
    reason = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    reason = " ".join(str(reason).split())[:300]
    return StoreUnavailableError(f"Milvus at {settings.uri} failed: {reason}")


def live_version(client: "MilvusClient", alias: str) -> str | None:
    """The version ("a" or "b") the alias names, or None when there is no alias yet."""
    if alias not in client.list_aliases().get("aliases", []):
        return None
    target = client.describe_alias(alias)["collection_name"]
    version = target.removeprefix(f"{alias}_")
    if version not in VERSIONS:
        raise IndexCorruptError(f"Milvus alias {alias!r} names {target!r}, not a version this program wrote; rebuild with: {BUILD_HINT}")
    return version


def quote(value: str) -> str:
    """``value`` as a string literal in a Milvus filter expression."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


def in_filter(field: str, values: Sequence[str]) -> str:
    return f"{field} in [{', '.join(quote(v) for v in values)}]"


_PLAIN = re.compile(r"[0-9a-z]+")


def lexical_text(terms: Sequence[str]) -> str:
    """Terms as text that Milvus's standard analyzer splits back into exactly these terms.

    Terms are runs of word characters; a run mixing scripts (or holding "_") could be
    split differently by the analyzer, so such terms are spelled in hex.
    """
    return " ".join(t if _PLAIN.fullmatch(t) else "x" + t.encode("utf-8").hex() for t in terms)


def hashed_id(*parts: Any) -> int:
    """A stable 63-bit primary key for a row, from what identifies it."""
    digest = hashlib.blake2b("\0".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


def fit(text: str, limit: int = VARCHAR_BYTES) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8 (Milvus's VARCHAR limit), at a character boundary."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def create_collections(client: "MilvusClient", names: Names, dimension: int, index_type: str, ml_dimension: int | None = None) -> None:
    """Create the four empty collections of one version, indexed and loaded.

    ``ml_dimension``: the width of the multilingual vectors (``ml_vector``); None: no such field.
    """
    from pymilvus import DataType, Function, FunctionType

    def base_schema():
        return client.create_schema(auto_id=False, enable_dynamic_field=False)

    schema = base_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("doc", DataType.VARCHAR, max_length=DOC_BYTES)
    schema.add_field("paragraph", DataType.INT64)
    schema.add_field("paragraph_end", DataType.INT64)
    schema.add_field("start", DataType.INT64)
    schema.add_field("end", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR_BYTES)
    schema.add_field("lexical", DataType.VARCHAR, max_length=VARCHAR_BYTES, enable_analyzer=True, analyzer_params={"tokenizer": "standard"})
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    if ml_dimension:
        schema.add_field("ml_vector", DataType.FLOAT_VECTOR, dim=ml_dimension)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["lexical"], output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index("vector", metric_type="IP", **_dense_index(index_type))
    if ml_dimension:  # the same kind of index as the English vectors, as the FAISS store's ml_faiss.index
        index.add_index("ml_vector", metric_type="IP", **_dense_index(index_type))
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=dict(BM25))
    index.add_index("doc", index_type="INVERTED")
    _create(client, names.passages, schema, index)

    schema = base_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("doc", DataType.VARCHAR, max_length=DOC_BYTES)
    schema.add_field("paragraph", DataType.INT64)
    schema.add_field("start", DataType.INT64)
    schema.add_field("end", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR_BYTES)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    if ml_dimension:
        schema.add_field("ml_vector", DataType.FLOAT_VECTOR, dim=ml_dimension)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="IP")  # fetched by id, never searched
    if ml_dimension:
        index.add_index("ml_vector", index_type="FLAT", metric_type="IP")
    index.add_index("doc", index_type="INVERTED")
    _create(client, names.sentences, schema, index)

    # Milvus wants a vector field in every collection; these two hold a constant one.
    schema = base_schema()
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=DOC_BYTES + 16)
    schema.add_field("doc", DataType.VARCHAR, max_length=DOC_BYTES)
    schema.add_field("part", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR_BYTES)
    schema.add_field("info", DataType.VARCHAR, max_length=VARCHAR_BYTES)
    schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index("unused", index_type="FLAT", metric_type="L2")
    index.add_index("doc", index_type="INVERTED")
    _create(client, names.documents, schema, index)

    schema = base_schema()
    schema.add_field("term", DataType.VARCHAR, is_primary=True, max_length=TERM_BYTES)
    schema.add_field("df", DataType.INT64)
    schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index("unused", index_type="FLAT", metric_type="L2")
    _create(client, names.terms, schema, index)


UNUSED_VECTOR = [0.0, 0.0]


def _create(client: "MilvusClient", name: str, schema, index) -> None:
    # Strong consistency: a build reads back what it has just written (term counts,
    # rows to replace), which Milvus's default "Bounded" level may not show yet.
    client.create_collection(name, schema=schema, consistency_level="Strong")
    # sync=False: pymilvus would otherwise poll each index of the empty collection (0.5 s each).
    client.create_index(name, index, sync=False)
    client.load_collection(name)


def _dense_index(index_type: str) -> dict:
    if index_type == "hnsw":
        return {"index_type": "HNSW", "params": dict(HNSW)}
    if index_type == "ivf":
        return {"index_type": "IVF_FLAT", "params": {"nlist": 1024}}
    return {"index_type": "FLAT"}


def dense_search_params(index_type: str) -> dict:
    """Search breadth for the version's dense index (the same as the FAISS store's)."""
    if index_type == "hnsw":
        return {"metric_type": "IP", "params": {"ef": HNSW_EF_SEARCH}}
    if index_type == "ivf":
        return {"metric_type": "IP", "params": {"nprobe": IVF_PROBE}}
    return {"metric_type": "IP"}


def has_version(client: "MilvusClient", names: Names) -> bool:
    return all(client.has_collection(name) for name in names.all)


def load_version(client: "MilvusClient", names: Names) -> bool:
    """Load a version's collections for reading (a restarted server holds them released); False if one is missing."""
    if not has_version(client, names):
        return False
    for name in names.all:
        client.load_collection(name)
    return True


def drop_version(client: "MilvusClient", names: Names) -> None:
    for name in names.all:
        if client.has_collection(name):
            client.drop_collection(name)


def read_manifest(client: "MilvusClient", names: Names) -> dict[str, Any] | None:
    """The manifest row of a version, or None if it has none (never finished its first build)."""
    rows = client.query(names.documents, filter=f"key == {quote(MANIFEST_KEY)}", output_fields=["info"])
    if not rows:
        return None
    try:
        manifest = json.loads(rows[0]["info"])
    except ValueError:
        raise IndexCorruptError(f"Milvus collection {names.documents}: the manifest is not JSON; rebuild with: {BUILD_HINT}") from None
    if not isinstance(manifest, dict):
        raise IndexCorruptError(f"Milvus collection {names.documents}: the manifest is not an object; rebuild with: {BUILD_HINT}")
    return manifest


def write_manifest(client: "MilvusClient", names: Names, manifest: dict[str, Any]) -> None:
    row = {"key": MANIFEST_KEY, "doc": "", "part": -1, "text": "", "info": json.dumps(manifest), "unused": UNUSED_VECTOR}
    client.upsert(names.documents, [row])


def check_manifest(manifest: dict[str, Any], names: Names, model: str) -> None:
    """Refuse a version of another format or model, or one whose build did not finish."""
    where = f"Milvus collection {names.documents}"
    if manifest.get("format") != FORMAT:
        raise IndexMismatchError(f"{where} has format {manifest.get('format')!r}, this version reads {FORMAT}; rebuild with: {BUILD_HINT}")
    if manifest.get("model") != model:
        raise IndexMismatchError(
            f"{where}: index was built with model {manifest.get('model')!r} but config says {model!r}; rebuild with: {BUILD_HINT}"
        )
    if manifest.get("state") != "ready":
        raise IndexCorruptError(f"{where} is not a finished build (state {manifest.get('state')!r}); rebuild with: {BUILD_HINT}")


def document_markers(client: "MilvusClient", names: Names) -> dict[str, dict[str, Any]]:
    """{doc: {"title", "sha256", "passages", "sentences", "language", optional "pages", optional "source"}} of every
    complete document ("language" is missing in versions built before it was recorded)."""
    out = {}
    for row in query_all(client, names.documents, "part == 0", ["doc", "info"]):
        out[row["doc"]] = json.loads(row["info"])
    return out


def query_all(client: "MilvusClient", collection: str, filter: str, fields: list[str]) -> list[dict]:
    """Every row matching ``filter``, however many.

    One query when they fit under Milvus's cap of 16,384 rows; past it, Milvus's
    query iterator pages through them (milvus-lite logs a harmless "AllocTimestamp not
    implemented" error for each).
    """
    rows = client.query(collection, filter=filter, output_fields=fields, limit=QUERY_LIMIT)
    if len(rows) < QUERY_LIMIT:
        return rows
    rows = []
    iterator = client.query_iterator(collection, batch_size=4096, filter=filter, output_fields=fields)
    try:
        while page := iterator.next():
            rows.extend(page)
    finally:
        iterator.close()
    return rows


def insert(client: "MilvusClient", collection: str, rows: list[dict]) -> None:
    for start in range(0, len(rows), BATCH):
        client.insert(collection, rows[start : start + BATCH])


def batches(values: Sequence, size: int = BATCH) -> Iterator[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def drop_index(config: Config) -> None:
    """Remove the alias and both versions named by ``config.milvus.collection`` (the eval's scratch index)."""
    client = connect(config.milvus)
    try:
        alias = config.milvus.collection
        if alias in client.list_aliases().get("aliases", []):
            client.drop_alias(alias)
        for version in VERSIONS:
            drop_version(client, Names(alias, version))
    finally:
        client.close()
