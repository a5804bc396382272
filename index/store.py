"""The on-disk index: one directory per build, swapped in atomically.

Layout of ``index_dir``::

    current -> v20261128T010400-1a2b3c   (symlink; replaced atomically with os.replace)
    v20261128T010400-1a2b3c/
        manifest.json   model, dimension, chunking, per-document hashes, counts, time
        store.sqlite    documents (text, title, hash) and passages (offsets, text)
        vectors.npy     float32 L2-normalised passage embeddings, row i == passage id i
        faiss.index     the FAISS index over vectors.npy
        sentence_vectors.npy  float32 sentence embeddings, row i == sentence id i (so a
                        question needs one model call: answer sentences are scored
                        against these precomputed vectors)
        bm25/           the BM25 matrix and vocabulary over the passages (bm25s format)
        ml_vectors.npy, ml_sentence_vectors.npy, ml_faiss.index
                        the same passages and sentences embedded by the multilingual
                        encoder, when [index] multilingual_model is set (index/multilingual.py)
    .build-*/           a build in progress; removed on failure or by the next build

A build writes a complete new version directory, fsyncs it, then points
``current`` at it.  A crash at any moment leaves ``current`` pointing at the
previous complete version.  The previous version is kept so a process that still
has it open keeps working; older ones are pruned.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from core.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from index.chunk import Passage, Sentence
from index.lexical import LexicalIndex

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: sentences table and sentence_vectors.npy; 3: bm25/
READABLE_FORMATS = (2, 3)  # a format-2 index gets its BM25 built when it is opened
CURRENT = "current"
MANIFEST = "manifest.json"
STORE = "store.sqlite"
VECTORS = "vectors.npy"
SENTENCE_VECTORS = "sentence_vectors.npy"
FAISS_INDEX = "faiss.index"
BM25_DIR = "bm25"
BUILD_HINT = "python -m index build"
# Passage stores up to this size are copied into memory when opened.
IN_MEMORY_BYTES = 512 * 1024 * 1024

_SCHEMA = """
CREATE TABLE documents (
    doc TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY,
    doc TEXT NOT NULL REFERENCES documents(doc),
    paragraph INTEGER NOT NULL,
    paragraph_end INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX passages_doc ON passages(doc);
CREATE TABLE sentences (
    id INTEGER PRIMARY KEY,
    doc TEXT NOT NULL REFERENCES documents(doc),
    paragraph INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX sentences_doc ON sentences(doc, start);
"""


@dataclass(frozen=True)
class DocumentRecord:
    doc: str
    title: str
    sha256: str
    text: str


def current_dir(index_dir: Path) -> Path:
    """The version directory ``current`` points at.

    Raises:
        IndexNotFoundError: no index has been built in ``index_dir``.
    """
    link = index_dir / CURRENT
    target = link.resolve()
    if not link.is_symlink() or not target.is_dir():
        raise IndexNotFoundError(f"no index at {index_dir} ({link} is missing); build it with: {BUILD_HINT}")
    return target


def read_manifest(version_dir: Path) -> dict[str, Any]:
    path = version_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"{path} is missing; rebuild with: {BUILD_HINT}") from None
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"{path} is unreadable ({exc.__class__.__name__}); rebuild with: {BUILD_HINT}") from None
    if not isinstance(manifest, dict) or manifest.get("format") not in READABLE_FORMATS:
        raise IndexMismatchError(
            f"{path} has format {manifest.get('format') if isinstance(manifest, dict) else '?'!r}, "
            f"this version reads formats {', '.join(map(str, READABLE_FORMATS))}; rebuild with: {BUILD_HINT}"
        )
    return manifest


def check_model(manifest: dict[str, Any], version_dir: Path, model: str) -> None:
    """Refuse an index built with another embedding model than ``model``."""
    if manifest.get("model") != model:
        raise IndexMismatchError(
            f"{version_dir / MANIFEST}: index was built with model {manifest.get('model')!r} "
            f"but config says {model!r}; rebuild with: {BUILD_HINT}"
        )


def read_vectors(version_dir: Path, manifest: dict[str, Any], *, mmap: bool = False, sentences: bool = False) -> np.ndarray:
    """Passage vectors (or, with ``sentences``, sentence vectors), checked against the manifest."""
    path = version_dir / (SENTENCE_VECTORS if sentences else VECTORS)
    try:
        vectors = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise IndexCorruptError(f"{path} is missing; rebuild with: {BUILD_HINT}") from None
    except (OSError, ValueError, EOFError) as exc:
        raise IndexCorruptError(f"{path} is truncated or corrupt ({exc}); rebuild with: {BUILD_HINT}") from None
    expected = (manifest["counts"]["sentences" if sentences else "passages"], manifest["dimension"])
    if vectors.shape != expected or vectors.dtype != np.float32:
        raise IndexCorruptError(
            f"{path} holds {vectors.shape} {vectors.dtype}, manifest says {expected} float32; rebuild with: {BUILD_HINT}"
        )
    return vectors


class PassageStore:
    """Read access to ``store.sqlite``: passages by id, documents by name. Thread-safe for reads."""

    def __init__(self, path: Path):
        self.path = path
        if not path.is_file():
            raise IndexCorruptError(f"{path} is missing; rebuild with: {BUILD_HINT}")
        try:
            # immutable=1: the file never changes after the build, so skip locking entirely.
            disk = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            disk.execute("SELECT count(*) FROM passages").fetchone()
            if path.stat().st_size <= IN_MEMORY_BYTES:
                # A private copy: a serving bot keeps answering even if the file is damaged later.
                self._db = sqlite3.connect(":memory:", check_same_thread=False)
                disk.backup(self._db)
                disk.close()
            else:
                self._db = disk
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{path} is corrupt ({exc}); rebuild with: {BUILD_HINT}") from None

    def passages(self, ids: list[int]) -> list[Passage]:
        """Passages with the given ids, in the order given."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._query(
            f"SELECT id, doc, paragraph, paragraph_end, start, end, text FROM passages WHERE id IN ({marks})", ids
        )
        by_id = {row[0]: Passage(*row[1:]) for row in rows}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise IndexCorruptError(f"{self.path} lacks passage {missing[0]}; rebuild with: {BUILD_HINT}")
        return [by_id[i] for i in ids]

    def doc_passages(self, doc: str) -> list[tuple[int, Passage]]:
        rows = self._query(
            "SELECT id, doc, paragraph, paragraph_end, start, end, text FROM passages WHERE doc = ? ORDER BY id", [doc]
        )
        return [(row[0], Passage(*row[1:])) for row in rows]

    def doc_sentences(self, doc: str) -> list[tuple[int, Sentence]]:
        """All sentences of ``doc`` in document order, with their ids."""
        return self._sentences("doc = ?", [doc])

    def sentences_between(self, doc: str, start: int, end: int) -> list[tuple[int, Sentence]]:
        """Sentences of ``doc`` overlapping the span ``start:end``, in order."""
        return self._sentences("doc = ? AND start < ? AND end > ?", [doc, end, start])

    def paragraph_sentences(self, doc: str, paragraph: int) -> list[tuple[int, Sentence]]:
        return self._sentences("doc = ? AND paragraph = ?", [doc, paragraph])

    def _sentences(self, where: str, args: list[Any]) -> list[tuple[int, Sentence]]:
        rows = self._query(f"SELECT id, doc, paragraph, start, end, text FROM sentences WHERE {where} ORDER BY start", args)
        return [(row[0], Sentence(*row[1:])) for row in rows]

    def document(self, doc: str) -> DocumentRecord | None:
        rows = self._query("SELECT doc, title, sha256, text FROM documents WHERE doc = ?", [doc])
        return DocumentRecord(*rows[0]) if rows else None

    def all_passages(self) -> Iterator[tuple[int, Passage]]:
        for row in self._query("SELECT id, doc, paragraph, paragraph_end, start, end, text FROM passages ORDER BY id", []):
            yield row[0], Passage(*row[1:])

    def _query(self, sql: str, args: list[Any]) -> list[tuple]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{self.path} is corrupt ({exc}); rebuild with: {BUILD_HINT}") from None

    def close(self) -> None:
        self._db.close()


# ---------------------------------------------------------------- writing


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``index_dir`` so two builds never interleave."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def new_version(index_dir: Path) -> Iterator[Path]:
    """Yield an empty build directory; on clean exit it becomes ``current``, on error it is removed.

    Call inside ``build_lock``.  Leftovers of builds that were killed are removed first.
    """
    for stale in index_dir.glob(".build-*"):
        log.info("removing unfinished build %s", stale)
        shutil.rmtree(stale, ignore_errors=True)
    name = time.strftime("v%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
    work = index_dir / f".build-{name}"
    work.mkdir(parents=True)
    link = index_dir / CURRENT
    previous = os.readlink(link) if link.is_symlink() else None
    try:
        yield work
        _fsync_dir_contents(work)
        os.rename(work, index_dir / name)
        _point_current(index_dir, name)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _prune(index_dir, keep={name, previous})


def _fsync_dir_contents(directory: Path) -> None:
    for path in directory.iterdir():
        if path.is_dir():
            _fsync_dir_contents(path)
            continue
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _point_current(index_dir: Path, name: str) -> None:
    link = index_dir / CURRENT
    tmp = index_dir / f".current-{uuid.uuid4().hex[:6]}"
    os.symlink(name, tmp)
    os.replace(tmp, link)  # atomic on POSIX: readers see the old or the new version, never neither
    _fsync_dir(index_dir)


def _prune(index_dir: Path, keep: set[str | None]) -> None:
    for path in index_dir.glob("v*"):
        if path.is_dir() and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def write_version(
    work: Path,
    *,
    manifest: dict[str, Any],
    documents: list[DocumentRecord],
    passages: list[Passage],
    vectors: np.ndarray,
    faiss_index: Any,
    sentences: list[Sentence],
    sentence_vectors: np.ndarray,
    lexical: LexicalIndex,
    extra: Callable[[Path], None] | None = None,
) -> None:
    """Write all files of one index version into ``work`` (``extra`` writes more before the manifest)."""
    import faiss

    db = sqlite3.connect(work / STORE)
    try:
        db.executescript(_SCHEMA)
        db.executemany("INSERT INTO documents VALUES (?, ?, ?, ?)", [(d.doc, d.title, d.sha256, d.text) for d in documents])
        db.executemany(
            "INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(i, p.doc, p.paragraph, p.paragraph_end, p.start, p.end, p.text) for i, p in enumerate(passages)],
        )
        db.executemany(
            "INSERT INTO sentences VALUES (?, ?, ?, ?, ?, ?)",
            [(i, s.doc, s.paragraph, s.start, s.end, s.text) for i, s in enumerate(sentences)],
        )
        db.commit()
    finally:
        db.close()
    np.save(work / VECTORS, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
    np.save(work / SENTENCE_VECTORS, np.ascontiguousarray(sentence_vectors, dtype=np.float32), allow_pickle=False)
    faiss.write_index(faiss_index, str(work / FAISS_INDEX))
    lexical.save(work / BM25_DIR)
    if extra is not None:
        extra(work)
    # The manifest goes last: a directory with a manifest is a complete build.
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
