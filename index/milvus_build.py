"""Build (or update) the index in Milvus: the standby version brought up to date by document, then the alias moved.

Usage (``index.build.build_index`` calls it when ``[index] store = "milvus"``)::

    report = build_index(config, embedder)      # BuildReport, as for the FAISS store

The live version (the one the alias names) is never written.  The other one, the
standby, holds the index as of the build before last: the build deletes and inserts
the documents whose content differs between it and the seeds folder (copying rows of
documents the live version already has, embedding only new and edited ones), updates
the term statistics by the difference, flushes, and points the alias at it.  So a
build writes in proportion to what changed over the last two builds, and the previous
version stays whole for a reader still using it until the build after next.

With a multilingual encoder (``[index] multilingual_model``), passages and sentences get
their multilingual vectors too (``ml_vector``, as ``index.multilingual`` makes them for
the FAISS store) and each document its language: rows copied from the live version keep
theirs when it was built with the same encoder, and are embedded by it alone (their
English vectors copied) when it was not.  The standby is written afresh when it was built
with another multilingual encoder, or with one when none is wanted now (its fields differ).

A build killed midway (or a server killed under it) leaves the alias on the live
version and the standby marked "building"; the next build recounts the standby's term
statistics from its passages and carries on.  Documents are written passages and
sentences first, the first document part (with the content hash) last, so a document
cut off midway is found different and written again.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from core.config import Config
from core.embedder import Embedder
from core.lang import LanguageIdentifier
from index.build import PASSAGE_VECTORS, BuildReport, Progress, _embed, _member_rows, export_onnx, mean_vector
from index.chunk import ChunkSettings, Passage, Sentence, chunk_document, split_document_sentences
from index.documents import Document, read_documents
from index.faiss_build import choose_index_type
from index.sources import read_sources
from index.lexical import terms
from index.multilingual import MANIFEST_KEY as MULTILINGUAL_KEY
from index.multilingual import MultilingualPlan, entry_for
from index.milvus import (
    FORMAT,
    PASSAGE_FIELDS,
    SENTENCE_FIELDS,
    TERM_BYTES,
    TEXT_PART,
    UNUSED_VECTOR,
    VERSIONS,
    Names,
    batches,
    connect,
    create_collections,
    document_markers,
    drop_version,
    fit,
    load_version,
    hashed_id,
    in_filter,
    insert,
    lexical_text,
    live_version,
    query_all,
    quote,
    read_manifest,
    write_manifest,
)

log = logging.getLogger(__name__)


@dataclass
class _Rows:
    """What one document writes into a version: Milvus rows, its first part last."""

    doc: str
    passages: list[dict] = field(default_factory=list)
    sentences: list[dict] = field(default_factory=list)
    parts: list[dict] = field(default_factory=list)  # parts[0] carries the marker


@dataclass
class _Plan:
    """A document to embed: its passages and sentences, and which sentences make up each passage."""

    document: Document
    title: str
    passages: list[Passage]
    sentences: list[Sentence]
    members: list[list[int] | None]  # per passage: its sentences' rows, or None to embed its own text
    first: int = 0  # where its texts start in the build's English batch

    @property
    def texts(self) -> list[str]:
        """What the English model embeds: the passages no whole sentences make up, then every sentence."""
        return [p.text for p, m in zip(self.passages, self.members) if m is None] + [s.text for s in self.sentences]


def build_milvus(
    config: Config, embedder: Embedder, seeds_dir: Path, index_dir: Path, progress: Progress | None, started: float,
    multilingual: Embedder | None = None,
) -> BuildReport:
    """Bring the standby version up to date with ``seeds_dir`` and make it live (see the module docstring).

    ``multilingual``: the multilingual encoder (None: an English-only index, no ``ml_vector`` fields).
    """
    client = connect(config.milvus)
    try:
        report = _Build(config, client, embedder, progress, multilingual).run(seeds_dir)
    finally:
        client.close()
    report.seconds = time.perf_counter() - started
    export_onnx(config, embedder, index_dir)
    log.info(
        "built Milvus collection %s: %d documents, %d passages, %d embedded in %.1fs", report.version,
        report.documents, report.passages, report.embedded, report.seconds,
    )
    return report


class _Build:
    def __init__(self, config: Config, client, embedder: Embedder, progress: Progress | None, multilingual: Embedder | None = None):
        self.config = config
        self.client = client
        self.embedder = embedder
        self.progress = progress
        self.multilingual = multilingual
        self.ml_entry = entry_for(multilingual) if multilingual is not None else None
        self.languages = LanguageIdentifier()
        self.done, self.total = 0, 0  # texts embedded so far and to embed, by both encoders
        self.ml_embedded = 0
        self.settings = ChunkSettings(
            passage_chars=config.index.passage_chars,
            min_paragraph_chars=config.index.min_paragraph_chars,
            overlap_sentences=config.index.overlap_sentences,
        )
        alias = config.milvus.collection
        version = live_version(client, alias)
        self.live = Names(alias, version) if version else None
        self.standby = Names(alias, VERSIONS[1] if version == VERSIONS[0] else VERSIONS[0])

    def _compatible(self, manifest: dict | None) -> bool:
        return bool(manifest) and (
            manifest.get("format") == FORMAT
            and manifest.get("model") == self.embedder.name
            and manifest.get("dimension") == self.embedder.dimension
            and manifest.get("chunking") == asdict(self.settings)
            and manifest.get("passage_vectors") == PASSAGE_VECTORS
        )

    def _same_multilingual(self, manifest: dict | None) -> bool:
        """Whether ``manifest``'s version holds the multilingual vectors this build wants (or, wanting none, has none)."""
        entry = (manifest or {}).get(MULTILINGUAL_KEY) or None
        if self.ml_entry is None or entry is None:
            return entry is self.ml_entry
        return all(entry.get(key) == self.ml_entry[key] for key in ("model", "dimension", "passage_vectors"))

    def run(self, seeds_dir: Path) -> BuildReport:
        client = self.client
        live_manifest = read_manifest(client, self.live) if self.live and load_version(client, self.live) else None
        live_docs = document_markers(client, self.live) if self._compatible(live_manifest) else {}
        if live_manifest and not live_docs:
            log.info("model, chunking or layout changed since the last build: re-embedding everything")
        # Copied rows bring their multilingual vectors only from a version built with this encoder.
        self.live_ml = self.ml_entry is not None and bool(live_docs) and self._same_multilingual(live_manifest)
        documents, skipped = read_documents(
            seeds_dir,
            max_bytes=int(self.config.seeds.max_file_mb * 1024 * 1024),
            known_text=lambda doc, sha256: self._live_text(live_docs, doc, sha256),
        )
        report = BuildReport(skipped=skipped)
        # Documents that came through Telegram: their source link, and a title given with them
        # (kept with the document's rows, so they change when the document does).
        self.origins = read_sources(seeds_dir)
        wanted = {d.doc: d for d in documents}
        report.added = [d.doc for d in documents if d.doc not in live_docs]
        report.changed = [d.doc for d in documents if d.doc in live_docs and live_docs[d.doc]["sha256"] != d.sha256]
        report.removed = sorted(doc for doc in live_docs if doc not in wanted)

        standby_manifest = read_manifest(client, self.standby) if load_version(client, self.standby) else None
        reusable = self._compatible(standby_manifest) and self._same_multilingual(standby_manifest)
        standby_docs = document_markers(client, self.standby) if reusable else None
        chunked = {}  # doc -> (title, passages), for the documents to embed
        index_type, total = self._plan_size(documents, live_docs, standby_docs or {}, chunked)
        if standby_docs is not None and standby_manifest.get("index_type") != index_type:
            log.info("the corpus now wants a %s index: writing the standby version afresh", index_type)
            standby_docs = None
        if standby_docs is None:
            drop_version(client, self.standby)
            create_collections(client, self.standby, self.embedder.dimension, index_type, self.ml_entry and self.ml_entry["dimension"])
            standby_docs, dirty = {}, False
            index_type, total = self._plan_size(documents, live_docs, standby_docs, chunked)
        else:
            dirty = standby_manifest.get("state") != "ready"
        manifest = {
            "format": FORMAT,
            "model": self.embedder.name,
            "model_sha256": getattr(self.embedder, "weights_sha256", None),
            "dimension": self.embedder.dimension,
            "chunking": asdict(self.settings),
            "passage_vectors": PASSAGE_VECTORS,
            "index_type": index_type,
            "state": "building",
        }
        if self.ml_entry is not None:
            manifest[MULTILINGUAL_KEY] = self.ml_entry
        # From here until the manifest says "ready" again, a crash leaves the standby for repair.
        write_manifest(client, self.standby, manifest)
        if dirty:
            log.warning("the standby version %s was left half-written by a killed build: recounting its terms", self.standby.passages)
            self._recount_terms()

        todo = [d for d in documents if standby_docs.get(d.doc, {}).get("sha256") != d.sha256]
        gone = sorted(doc for doc in standby_docs if doc not in wanted)
        copy = [d for d in todo if live_docs.get(d.doc, {}).get("sha256") == d.sha256]
        fresh = [d for d in todo if live_docs.get(d.doc, {}).get("sha256") != d.sha256]
        plans = self._plan_documents(fresh, chunked)
        # One progress count over both encoders' texts: English, then multilingual (fresh, then copied).
        self.total = sum(len(plan.texts) for plan in plans)
        if self.multilingual is not None:
            self.total += sum(len(plan.sentences) + len(plan.passages) for plan in plans)
            if not self.live_ml:
                self.total += sum(int(live_docs[d.doc].get("passages", 0)) + int(live_docs[d.doc].get("sentences", 0)) for d in copy)
        rows = self._embed_documents(plans)
        report.embedded = sum(len(r.passages) for r in rows)
        log.info(
            "Milvus standby %s: %d documents to write (%d copied from the live version, %d embedded), %d to remove",
            self.standby.passages, len(todo), len(copy), len(fresh), len(gone),
        )
        delta: Counter[str] = Counter()
        for group in batches([d.doc for d in copy]):
            copied = self._copied_rows(list(group))
            if self.ml_entry is not None and not self.live_ml:
                self._add_multilingual([(r, _row_passages(r), _row_sentences(r)) for r in copied])
            self._replace(copied, list(group), delta)
        for start in range(0, len(rows), 200):
            group = rows[start : start + 200]
            self._replace(group, [r.doc for r in group], delta)
        for group in batches(gone):
            self._replace([], list(group), delta)
        self._apply_terms(delta)

        for name in self.standby.all:
            client.flush(name)
        counts = {
            "documents": len(documents),
            "passages": _count(client, self.standby.passages),
            "sentences": _count(client, self.standby.sentences),
        }
        manifest.update(
            state="ready", counts=counts, build=uuid.uuid4().hex, created=datetime.now(timezone.utc).isoformat(timespec="seconds")
        )
        write_manifest(client, self.standby, manifest)
        client.flush(self.standby.documents)
        alias = self.standby.alias
        if self.live:
            client.alter_alias(self.standby.passages, alias)
        else:
            client.create_alias(self.standby.passages, alias)
        report.documents = counts["documents"]
        report.passages = counts["passages"]
        report.multilingual_embedded = self.ml_embedded
        report.index_type = index_type
        report.version = self.standby.passages
        return report

    # ------------------------------------------------------------ planning

    def _plan_size(self, documents: list[Document], live_docs: dict, standby_docs: dict, chunked: dict) -> tuple[str, int]:
        """The dense index type for the corpus, and its passage count (chunking the documents to embed)."""
        total = 0
        for d in documents:
            for known in (standby_docs, live_docs):
                if known.get(d.doc, {}).get("sha256") == d.sha256:
                    total += int(known[d.doc]["passages"])
                    break
            else:
                if d.doc not in chunked:
                    chunked[d.doc] = chunk_document(d.doc, d.text, self.settings)
                total += len(chunked[d.doc][1])
        return choose_index_type(self.config.index.index_type, total), total

    def _live_text(self, live_docs: dict, doc: str, sha256: str) -> tuple[str, tuple[int, ...]] | None:
        """(text, page starts) the live version read from this very file, so a PDF is not converted again."""
        meta = live_docs.get(doc)
        if not meta or meta.get("sha256") != sha256:
            return None
        parts = self.client.query(self.live.documents, filter=f"doc == {quote(doc)}", output_fields=["part", "text"])
        texts = [row["text"] for row in sorted(parts, key=lambda row: row["part"]) if row["part"] >= 0]
        return ("".join(texts), tuple(int(x) for x in meta.get("pages", ()))) if texts else None

    # ------------------------------------------------------------ rows

    def _plan_documents(self, documents: list[Document], chunked: dict) -> list[_Plan]:
        """What each document to embed is made of, and the texts the English model embeds for it."""
        plans = []
        for d in documents:
            title, passages = chunked.pop(d.doc, None) or chunk_document(d.doc, d.text, self.settings)
            sentences = split_document_sentences(d.doc, d.text)
            starts = [s.start for s in sentences]
            # Per passage, the rows of its sentences to average, or None: the rare passage no
            # whole sentences make up is embedded as it is.
            members = [_member_rows(p, sentences, starts, 0) for p in passages]
            plans.append(_Plan(d, title, passages, sentences, members))
        return plans

    def _embed(self, encoder: Embedder, texts: list[str]) -> np.ndarray:
        """``texts`` embedded by ``encoder``, counted into the build's progress."""
        done = self.done
        progress = self.progress and (lambda n, _: self.progress(done + n, self.total))
        vectors = _embed(encoder, texts, self.config.index.batch_size, progress)
        self.done += len(texts)
        return vectors

    def _embed_documents(self, plans: list[_Plan]) -> list[_Rows]:
        """Rows of documents to embed: one English pass over their sentences (and the rare passage no whole sentences
        make up), then, with a multilingual encoder, one over their sentences and passages."""
        texts: list[str] = []
        for plan in plans:
            plan.first = len(texts)
            texts.extend(plan.texts)
        vectors = self._embed(self.embedder, texts)
        out = []
        for plan in plans:
            d, passages, sentences = plan.document, plan.passages, plan.sentences
            rows = _Rows(d.doc)
            own = plan.first
            first = own + sum(m is None for m in plan.members)
            sentence_matrix = vectors[first : first + len(sentences)]
            for n, (p, m) in enumerate(zip(passages, plan.members)):
                if m is None:
                    vector, own = vectors[own], own + 1
                else:
                    vector = mean_vector(sentence_matrix[m])
                rows.passages.append({
                    "id": hashed_id("passage", d.doc, d.sha256, n), "doc": d.doc, "paragraph": p.paragraph,
                    "paragraph_end": p.paragraph_end, "start": p.start, "end": p.end, "text": fit(p.text),
                    "lexical": fit(lexical_text(terms(p.text))), "vector": _floats(vector),
                })
            for n, (s, vector) in enumerate(zip(sentences, sentence_matrix)):
                rows.sentences.append({
                    "id": hashed_id("sentence", d.doc, d.sha256, n), "doc": d.doc, "paragraph": s.paragraph,
                    "start": s.start, "end": s.end, "text": fit(s.text), "vector": _floats(vector),
                })
            origin = self.origins.get(d.doc)
            info = {"title": (origin and origin.title) or plan.title, "sha256": d.sha256, "passages": len(passages),
                    "sentences": len(sentences), "language": self.languages.document_language(d.text)}
            if d.pages:
                info["pages"] = list(d.pages)
            if origin and origin.source:
                info["source"] = origin.source
            rows.parts = _parts(d.doc, d.text, info)
            out.append(rows)
        if self.multilingual is not None:
            self._add_multilingual([(rows, plan.passages, plan.sentences) for rows, plan in zip(out, plans)])
        return out

    def _add_multilingual(self, units: list[tuple[_Rows, list[Passage], list[Sentence]]]) -> None:
        """Give each document's passage and sentence rows their multilingual vectors (``ml_vector``).

        ``units``: (rows, passages, sentences) with ``passages[i]`` (``sentences[i]``) the text of
        ``rows.passages[i]`` (``rows.sentences[i]``), sentences in document order.  The vectors are
        made as for the FAISS store, by ``index.multilingual.MultilingualPlan``.
        """
        passages = [p for _, ps, _ in units for p in ps]
        sentences = [s for _, _, ss in units for s in ss]
        plan = MultilingualPlan.make(passages, sentences, [None] * len(sentences), [None] * len(passages), None)
        self.ml_embedded += len(plan.texts)
        sentence_matrix, matrix = plan.vectors(self.multilingual, lambda texts: self._embed(self.multilingual, list(texts)))
        p = s = 0
        for rows, ps, ss in units:
            for row, vector in zip(rows.passages, matrix[p : p + len(ps)]):
                row["ml_vector"] = _floats(vector)
            for row, vector in zip(rows.sentences, sentence_matrix[s : s + len(ss)]):
                row["ml_vector"] = _floats(vector)
            p, s = p + len(ps), s + len(ss)

    def _copied_rows(self, docs: list[str]) -> list[_Rows]:
        """The live version's rows of ``docs`` (unchanged since it was built), vectors included (the multilingual
        ones when the live version has those this build wants)."""
        by_doc = {doc: _Rows(doc) for doc in docs}
        where = in_filter("doc", docs)
        vectors = ["vector", "ml_vector"] if self.live_ml else ["vector"]
        for row in query_all(self.client, self.live.passages, where, PASSAGE_FIELDS + ["lexical"] + vectors):
            by_doc[row["doc"]].passages.append(_plain(row))
        for row in query_all(self.client, self.live.sentences, where, SENTENCE_FIELDS + vectors):
            by_doc[row["doc"]].sentences.append(_plain(row))
        for row in query_all(self.client, self.live.documents, where, ["key", "doc", "part", "text", "info"]):
            by_doc[row["doc"]].parts.append(_plain(row) | {"unused": UNUSED_VECTOR})
        for rows in by_doc.values():
            rows.parts.sort(key=lambda row: row["part"])
            rows.passages.sort(key=lambda row: row["start"])
            rows.sentences.sort(key=lambda row: row["start"])
            info = json.loads(rows.parts[0]["info"]) if rows.parts else {}
            if rows.parts and "language" not in info:  # a version built before languages were recorded
                info["language"] = self.languages.document_language("".join(part["text"] for part in rows.parts))
                rows.parts[0]["info"] = json.dumps(info)
        return list(by_doc.values())

    # ------------------------------------------------------------ writing

    def _replace(self, rows: list[_Rows], docs: list[str], delta: Counter) -> None:
        """Make the standby hold ``rows`` for ``docs`` (none: remove them), counting the term changes into ``delta``."""
        client, names = self.client, self.standby
        where = in_filter("doc", docs)
        # Whatever the standby holds of these documents, finished or left by a killed build.
        for row in query_all(client, names.passages, where, ["lexical"]):
            delta.subtract(set(row["lexical"].split()))
        client.delete(names.documents, filter=where)  # first parts first: the documents now count as absent
        client.delete(names.passages, filter=where)
        client.delete(names.sentences, filter=where)
        insert(client, names.passages, [p for r in rows for p in r.passages])
        insert(client, names.sentences, [s for r in rows for s in r.sentences])
        insert(client, names.documents, [part for r in rows for part in r.parts[1:]])
        insert(client, names.documents, [r.parts[0] for r in rows if r.parts])
        for r in rows:
            for p in r.passages:
                delta.update(set(p["lexical"].split()))

    def _apply_terms(self, delta: Counter) -> None:
        """Add ``delta`` to the standby's document frequencies (terms that reach 0 are removed)."""
        changed = [t for t, n in delta.items() if n and len(t.encode("utf-8")) <= TERM_BYTES]
        for group in batches(changed, 1000):
            current = {row["term"]: row["df"] for row in self.client.query(self.standby.terms, filter=in_filter("term", group), output_fields=["term", "df"])}
            upserts, deletes = [], []
            for term in group:
                df = current.get(term, 0) + delta[term]
                if df > 0:
                    upserts.append({"term": term, "df": df, "unused": UNUSED_VECTOR})
                elif term in current:
                    deletes.append(term)
            if upserts:
                self.client.upsert(self.standby.terms, upserts)
            if deletes:
                self.client.delete(self.standby.terms, filter=in_filter("term", deletes))

    def _recount_terms(self) -> None:
        """Rebuild the standby's document frequencies from its passages (after a killed build)."""
        self.client.delete(self.standby.terms, filter='term != ""')
        counts: Counter[str] = Counter()
        for row in query_all(self.client, self.standby.passages, "id >= 0", ["lexical"]):
            counts.update(set(row["lexical"].split()))
        rows = [{"term": t, "df": n, "unused": UNUSED_VECTOR} for t, n in counts.items() if len(t.encode("utf-8")) <= TERM_BYTES]
        insert(self.client, self.standby.terms, rows)


def _row_passages(rows: _Rows) -> list[Passage]:
    return [Passage(r["doc"], r["paragraph"], r["paragraph_end"], r["start"], r["end"], r["text"]) for r in rows.passages]


def _row_sentences(rows: _Rows) -> list[Sentence]:
    return [Sentence(r["doc"], r["paragraph"], r["start"], r["end"], r["text"]) for r in rows.sentences]


def _parts(doc: str, text: str, info: dict[str, Any]) -> list[dict]:
    """A document's text in parts of ``TEXT_PART`` characters; the first carries ``info`` (its marker)."""
    pieces = [text[i : i + TEXT_PART] for i in range(0, len(text), TEXT_PART)] or [""]
    return [
        {"key": f"{doc}#{n}", "doc": doc, "part": n, "text": piece, "info": json.dumps(info) if n == 0 else "", "unused": UNUSED_VECTOR}
        for n, piece in enumerate(pieces)
    ]


def _count(client, collection: str) -> int:
    return int(client.query(collection, filter="", output_fields=["count(*)"])[0]["count(*)"])


def _floats(vector: np.ndarray) -> list[float]:
    return np.asarray(vector, dtype=np.float32).tolist()


def _plain(row: dict) -> dict:
    """A queried row as an insertable one (vectors as float lists)."""
    out = dict(row)
    for name in ("vector", "ml_vector"):
        if name in out:
            out[name] = _floats(out[name])
    return out
