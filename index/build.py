"""Build (or incrementally update) the index: read, chunk, embed, write, swap.

Usage::

    report = build_index(config, embedder=load_embedder(config.index.model))

Documents whose content hash, the model and the chunking settings are unchanged
since the current index keep their passages and vectors; only new and edited
documents are embedded.  Deleted documents simply do not reach the new version.
With ``[index] multilingual_model`` set, every sentence is also embedded by the
multilingual encoder (``index.multilingual``), and each document's language is
recorded in the manifest (in either store: ``index.milvus_build`` for Milvus).
"""

from __future__ import annotations

import bisect
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from core.config import Config
from core.embedder import Embedder, onnx_cache_dir
from core.lang import LanguageIdentifier
from core.errors import BuildError, DocQAError
from index.chunk import ChunkSettings, Passage, Sentence, chunk_document, split_document_sentences
from index.documents import Skipped, read_documents
from index.faiss_build import choose_index_type, make_faiss_index
from index.lexical import LexicalIndex
from index.multilingual import MANIFEST_KEY as MULTILINGUAL_KEY
from index.multilingual import PASSAGE_VECTORS as ML_PASSAGE_VECTORS
from index.multilingual import MultilingualIndex, MultilingualPlan, read_multilingual
from index.sources import read_sources
from index.store import (
    FORMAT_VERSION,
    DocumentRecord,
    PassageStore,
    build_lock,
    current_dir,
    new_version,
    read_manifest,
    read_vectors,
    write_version,
    STORE,
)

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (texts embedded so far, texts to embed): passages, then sentences
_ENCODE_CHUNK = 256
PASSAGE_VECTORS = "mean of sentences"  # recorded in the manifest; a change re-embeds everything
MEMBER_COVERAGE = 0.9  # share of a passage its whole sentences must cover to stand for it
FROM_CONFIG = "from config"  # build_index(multilingual=...): load [index] multilingual_model


@dataclass
class BuildReport:
    """What a build did; printed by the CLI and reported by /reindex."""

    documents: int = 0
    passages: int = 0
    embedded: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    index_type: str = ""
    version: str = ""
    multilingual_embedded: int = 0  # texts embedded by the multilingual encoder

    @property
    def passages_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Previous:
    """The current index, when its embeddings can be reused."""

    documents: dict[str, dict]
    store: PassageStore
    vectors: np.ndarray
    sentence_vectors: np.ndarray
    multilingual: MultilingualIndex | None = None  # reusable only when built with the same model


def build_index(
    config: Config,
    embedder: Embedder,
    *,
    multilingual: Embedder | str | None = FROM_CONFIG,
    seeds_dir: Path | None = None,
    index_dir: Path | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    """Build the index for the seeds folder, re-embedding only what changed.

    Args:
        config: loaded configuration (chunking, model name, index type).
        embedder: the model to embed with; its ``name`` must equal ``config.index.model``.
        multilingual: the multilingual encoder (``core.multilingual``); by default the one
            ``[index] multilingual_model`` names, loaded here; None builds an English-only index.
        seeds_dir, index_dir: override ``config.seeds.dir`` / ``config.index.dir``.
        progress: called with (done, total) while embedding.

    Returns:
        A ``BuildReport``.  The new version is live when this returns.

    Raises:
        BuildError: the build failed; the previous index is untouched and still serves.
    """
    seeds_dir = Path(seeds_dir or config.seeds.dir)
    index_dir = Path(index_dir or config.index.dir)
    if not seeds_dir.is_dir():
        raise BuildError(f"seeds folder {seeds_dir} does not exist (set [seeds] dir in config.toml or pass --seeds)")
    started = time.perf_counter()
    if multilingual == FROM_CONFIG:
        multilingual = None
        if config.index.multilingual_model:
            from core.multilingual import load_multilingual

            # All cores for a batch (about 1.7x faster than one); in a process that already
            # answers questions (the bot) the engine keeps the thread count it started with.
            multilingual = load_multilingual(config.index.multilingual_model, threads=os.cpu_count())
    try:
        with build_lock(index_dir):
            if config.index.store == "milvus":
                from index.milvus_build import build_milvus

                return build_milvus(config, embedder, seeds_dir, index_dir, progress, started, multilingual)
            return _build(config, embedder, multilingual, seeds_dir, index_dir, progress, started)
    except DocQAError:
        raise
    except Exception as exc:
        log.exception("index build failed")
        raise BuildError(f"index build failed, previous index kept: {exc.__class__.__name__}: {exc}") from exc


def _build(
    config: Config, embedder: Embedder, multilingual: Embedder | None, seeds_dir: Path, index_dir: Path, progress, started
) -> BuildReport:
    settings = ChunkSettings(
        passage_chars=config.index.passage_chars,
        min_paragraph_chars=config.index.min_paragraph_chars,
        overlap_sentences=config.index.overlap_sentences,
    )
    previous = _load_previous(index_dir, embedder, settings, multilingual)
    old_docs = previous.documents if previous else {}
    documents, skipped = read_documents(
        seeds_dir,
        max_bytes=int(config.seeds.max_file_mb * 1024 * 1024),
        known_text=lambda doc, sha256: _previous_text(previous, doc, sha256),
    )
    report = BuildReport(skipped=skipped)
    # Documents that came through Telegram: their source link, and a title given with them.
    origins = read_sources(seeds_dir)

    records: list[DocumentRecord] = []
    passages: list[Passage] = []
    # Per passage: a reused vector, the sentence rows to average, or None to embed its text.
    vectors: list[np.ndarray | list[int] | None] = []
    sentences: list[Sentence] = []
    sentence_vectors: list[np.ndarray | None] = []  # reused vector, or None to embed
    previous_sentence_rows: list[int | None] = []  # each sentence's row in the previous build
    previous_passage_rows: list[int | None] = []  # each passage's row in the previous build
    languages: dict[str, str] = {}
    identifier = LanguageIdentifier()
    for document in documents:
        old = old_docs.get(document.doc)
        if previous and old and old["sha256"] == document.sha256:
            rows = _reusable_rows(previous, document.doc, old.get("passages"))
            sentence_rows = _reusable_sentences(previous, document.doc) if rows is not None else None
            if rows is not None and sentence_rows is not None:
                title = _given_title(origins, document.doc) or old["title"]
                records.append(DocumentRecord(document.doc, title, document.sha256, document.text))
                passages.extend(p for _, p in rows)
                vectors.extend(previous.vectors[i] for i, _ in rows)
                sentences.extend(s for _, s in sentence_rows)
                sentence_vectors.extend(previous.sentence_vectors[i] for i, _ in sentence_rows)
                previous_sentence_rows.extend(i for i, _ in sentence_rows)
                previous_passage_rows.extend(i for i, _ in rows)
                languages[document.doc] = old.get("language") or identifier.document_language(document.text)
                continue
        (report.changed if old else report.added).append(document.doc)
        title, doc_passages = chunk_document(document.doc, document.text, settings)
        title = _given_title(origins, document.doc) or title
        records.append(DocumentRecord(document.doc, title, document.sha256, document.text))
        first = len(sentences)
        doc_sentences = split_document_sentences(document.doc, document.text)
        sentences.extend(doc_sentences)
        sentence_vectors.extend([None] * len(doc_sentences))
        previous_sentence_rows.extend([None] * len(doc_sentences))
        languages[document.doc] = identifier.document_language(document.text)
        starts = [x.start for x in doc_sentences]
        previous_passage_rows.extend([None] * len(doc_passages))
        for passage in doc_passages:
            passages.append(passage)
            vectors.append(_member_rows(passage, doc_sentences, starts, first))
    current_names = {d.doc for d in documents}
    pages = {d.doc: d.pages for d in documents if d.pages}
    report.removed = sorted(name for name in old_docs if name not in current_names)

    todo = [i for i, v in enumerate(vectors) if v is None]
    sentence_todo = [i for i, v in enumerate(sentence_vectors) if v is None]
    plan = None
    if multilingual is not None:
        plan = MultilingualPlan.make(
            passages, sentences, previous_sentence_rows, previous_passage_rows, previous and previous.multilingual
        )
    # One progress count over both encoders' texts.
    english_total = len(todo) + len(sentence_todo)
    both_total = english_total + (len(plan.texts) if plan else 0)
    # One embedding pass over new sentences (and the rare passage no whole sentences make up),
    # sorted by length inside.  A passage's vector is the mean of its sentences' vectors:
    # one pass instead of two, and on the SQuAD 2.0 dev questions it ranked as well as
    # embedding the passage (S@1 0.855 against 0.852; docs/quality.md).
    fresh = _embed(
        embedder,
        [passages[i].text for i in todo] + [sentences[i].text for i in sentence_todo],
        config.index.batch_size,
        progress and (lambda done, total: progress(done, both_total)),
    )
    sentence_matrix = np.zeros((len(sentences), embedder.dimension), dtype=np.float32)
    for row, i in enumerate(sentence_todo, start=len(todo)):
        sentence_matrix[i] = fresh[row]
    for i, v in enumerate(sentence_vectors):
        if v is not None:
            sentence_matrix[i] = v
    matrix = np.zeros((len(passages), embedder.dimension), dtype=np.float32)
    for row, i in enumerate(todo):
        matrix[i] = fresh[row]
    for i, v in enumerate(vectors):
        if isinstance(v, list):
            matrix[i] = mean_vector(sentence_matrix[v])
        elif v is not None:
            matrix[i] = v
    if previous:
        previous.store.close()

    index_type = choose_index_type(config.index.index_type, len(passages))
    faiss_index = make_faiss_index(matrix, index_type)
    lexical = LexicalIndex.build(p.text for p in passages)
    second = None
    if plan is not None:
        texts = plan.texts
        report.multilingual_embedded = len(texts)
        second = plan.embed(
            multilingual,
            lambda texts: _embed(
                multilingual, list(texts), config.index.batch_size,
                progress and (lambda done, total: progress(english_total + done, both_total)),
            ),
            index_type,
        )
    report.documents = len(records)
    report.passages = len(passages)
    report.embedded = sum(1 for v in vectors if v is None or isinstance(v, list))  # new vectors
    report.index_type = index_type
    per_doc: dict[str, int] = {}
    for p in passages:
        per_doc[p.doc] = per_doc.get(p.doc, 0) + 1
    manifest = {
        "format": FORMAT_VERSION,
        "model": embedder.name,
        "model_sha256": getattr(embedder, "weights_sha256", None),
        "dimension": embedder.dimension,
        "chunking": asdict(settings),
        "passage_vectors": PASSAGE_VECTORS,
        "index_type": index_type,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "counts": {"documents": len(records), "passages": len(passages), "sentences": len(sentences)},
        "documents": {
            r.doc: {"title": r.title, "sha256": r.sha256, "passages": per_doc.get(r.doc, 0), "language": languages[r.doc]}
            | ({"pages": list(pages[r.doc])} if pages.get(r.doc) else {})
            | ({"source": origins[r.doc].source} if r.doc in origins and origins[r.doc].source else {})
            for r in records
        },
    }
    if second is not None:
        manifest[MULTILINGUAL_KEY] = second.manifest_entry()
    with new_version(index_dir) as work:
        write_version(
            work, manifest=manifest, documents=records, passages=passages, vectors=matrix, faiss_index=faiss_index,
            sentences=sentences, sentence_vectors=sentence_matrix, lexical=lexical,
            extra=second.write if second is not None else None,
        )
        report.version = work.name.removeprefix(".build-")
    report.seconds = time.perf_counter() - started
    export_onnx(config, embedder, index_dir)
    manifest_path = index_dir / report.version / "manifest.json"
    log.info(
        "built %s: %d documents, %d passages, %d embedded in %.1fs", manifest_path, report.documents,
        report.passages, report.embedded, report.seconds,
    )
    return report


def export_onnx(config: Config, embedder: Embedder, index_dir: Path) -> None:
    """Export the model for the query path, once per model and weights (cached): questions are then embedded without torch."""
    if config.index.backend != "torch" and hasattr(embedder, "ensure_onnx"):
        embedder.ensure_onnx(onnx_cache_dir(index_dir))


def mean_vector(sentence_vectors: np.ndarray) -> np.ndarray:
    """A passage's vector: the normalised mean of its sentences' vectors."""
    mean = sentence_vectors.mean(axis=0)
    return mean / (np.linalg.norm(mean) or 1.0)


def _given_title(origins: dict, doc: str) -> str | None:
    origin = origins.get(doc)
    return origin.title if origin is not None else None


def _member_rows(passage: Passage, doc_sentences: list[Sentence], starts: list[int], first: int) -> list[int] | None:
    """Rows of the sentences that make up ``passage``, or None when they cover under 90% of it.

    ``starts`` are the sentences' start offsets (in order).  A sentence longer than a passage
    is hard-split, so some passages hold no whole sentence: those are embedded as they are.
    """
    n = bisect.bisect_left(starts, passage.start)
    rows, covered = [], 0
    while n < len(doc_sentences) and doc_sentences[n].end <= passage.end:
        rows.append(first + n)
        covered += doc_sentences[n].end - doc_sentences[n].start
        n += 1
    return rows if rows and covered >= MEMBER_COVERAGE * (passage.end - passage.start) else None


def _reusable_rows(previous: _Previous, doc: str, expected: int | None) -> list[tuple[int, Passage]] | None:
    """The previous build's passages of ``doc``, or None if they cannot be read back intact."""
    try:
        rows = previous.store.doc_passages(doc)
    except DocQAError as exc:
        log.warning("cannot reuse the embeddings of %s (%s): embedding it again", doc, exc)
        return None
    if len(rows) != expected or any(i >= len(previous.vectors) for i, _ in rows):
        log.warning("the previous index lost passages of %s: embedding it again", doc)
        return None
    return rows


def _previous_text(previous: _Previous | None, doc: str, sha256: str) -> tuple[str, tuple[int, ...]] | None:
    """(text, page starts) the previous build read from ``doc`` if the file is unchanged (else None: read it again)."""
    meta = previous.documents.get(doc, {}) if previous else {}
    if meta.get("sha256") != sha256:
        return None
    try:
        record = previous.store.document(doc)
        pages = tuple(int(x) for x in meta.get("pages", ()))
    except (DocQAError, TypeError, ValueError):
        return None
    return (record.text, pages) if record is not None else None


def _reusable_sentences(previous: _Previous, doc: str) -> list[tuple[int, Sentence]] | None:
    """The previous build's sentences of ``doc``, or None if they cannot be read back intact."""
    try:
        rows = previous.store.doc_sentences(doc)
    except DocQAError as exc:
        log.warning("cannot reuse the sentence embeddings of %s (%s): embedding it again", doc, exc)
        return None
    if not rows or any(i >= len(previous.sentence_vectors) for i, _ in rows):
        log.warning("the previous index lost sentences of %s: embedding it again", doc)
        return None
    return rows


def _load_previous(
    index_dir: Path, embedder: Embedder, settings: ChunkSettings, multilingual: Embedder | None = None
) -> _Previous | None:
    """The current index if its vectors can be reused (same model, same chunking), else None."""
    try:
        version = current_dir(index_dir)
        manifest = read_manifest(version)
        if (
            manifest.get("model") != embedder.name
            or manifest.get("chunking") != asdict(settings)
            or manifest.get("passage_vectors") != PASSAGE_VECTORS
        ):
            log.info("model, chunking or passage vectors changed since the last build: re-embedding everything")
            return None
        second = None
        entry = manifest.get(MULTILINGUAL_KEY) or {}
        if multilingual is not None and entry.get("model") == multilingual.name:
            try:
                second = read_multilingual(version, manifest)
            except DocQAError as exc:  # the English vectors are still good; embed the rest again
                log.warning("not reusing the multilingual vectors: %s", exc)
            if second is not None and entry.get("passage_vectors") != ML_PASSAGE_VECTORS:
                second.vectors = None  # sentence vectors still good; passages get the current scheme
        return _Previous(
            manifest["documents"],
            PassageStore(version / STORE),
            read_vectors(version, manifest),
            read_vectors(version, manifest, sentences=True),
            second,
        )
    except DocQAError as exc:
        # No usable previous index: build from scratch (the old one, if any, stays until the swap).
        log.info("not reusing the current index: %s", exc)
        return None
    except (KeyError, TypeError) as exc:
        log.warning("current index manifest is inconsistent (%s): re-embedding everything", exc)
        return None


def _embed(embedder: Embedder, texts: list[str], batch_size: int, progress: Progress | None) -> np.ndarray:
    if not texts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    bar = None
    if progress is None and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(texts), unit="text", desc="embedding")
    # Sorting by length keeps padding low in every batch; the order is restored below.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    for pos in range(0, len(order), _ENCODE_CHUNK):
        chunk = order[pos : pos + _ENCODE_CHUNK]
        out[chunk] = embedder.encode([texts[i] for i in chunk], batch_size=batch_size)
        done = min(pos + _ENCODE_CHUNK, len(order))
        if progress:
            progress(done, len(texts))
        if bar:
            bar.update(len(chunk))
    if bar:
        bar.close()
    return out
