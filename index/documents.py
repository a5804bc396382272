"""Read the seed documents: ``.txt`` and ``.md`` files as UTF-8, and saved web pages, skipping bad ones loudly.

A file that is binary, empty, too large, not valid UTF-8 or unreadable is skipped
with a warning that names it, and so is a file of a type the index cannot read (a
PDF, say), rather than left out silently.  The rest are returned, sorted by path, so
builds are deterministic.  A web page (``.html``, ``.htm``) becomes its title and
visible paragraphs (``index.markup``); it may also be in the character set its
``<meta charset>`` declares.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from index.markup import declared_charset, html_to_text

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md")
HTML_SUFFIXES = (".html", ".htm")
SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES


@dataclass(frozen=True)
class Document:
    """One seed file: ``doc`` is its path relative to the seeds folder, with ``/``."""

    doc: str
    text: str
    sha256: str


@dataclass(frozen=True)
class Skipped:
    """A file left out of the index, and why."""

    path: str
    reason: str


def read_documents(seeds_dir: Path, *, max_bytes: int = 20 * 1024 * 1024) -> tuple[list[Document], list[Skipped]]:
    """Read every ``.txt``/``.md``/``.html`` file under ``seeds_dir`` (recursively, symlinks not followed into loops).

    Returns:
        The readable documents, and the files skipped with their reasons (each also logged as a warning).
    """
    documents: list[Document] = []
    skipped: list[Skipped] = []
    for path in _candidate_files(seeds_dir, skipped):
        rel = path.relative_to(seeds_dir).as_posix()
        reason, text, raw = _read(path, max_bytes)
        if reason:
            log.warning("skipping %s: %s", path, reason)
            skipped.append(Skipped(rel, reason))
            continue
        documents.append(Document(doc=rel, text=text, sha256=hashlib.sha256(raw).hexdigest()))
    return documents, skipped


def _candidate_files(seeds_dir: Path, skipped: list[Skipped]) -> list[Path]:
    files: list[Path] = []
    seen_dirs: set[tuple[int, int]] = set()

    def on_error(err: OSError) -> None:
        log.warning("skipping %s: %s", err.filename, err.strerror or err)
        skipped.append(Skipped(str(err.filename), err.strerror or str(err)))

    # followlinks=True picks up linked folders; the (device, inode) set stops a symlink loop.
    for root, dirs, names in os.walk(seeds_dir, followlinks=True, onerror=on_error):
        try:
            st = os.stat(root)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            log.warning("skipping %s: symlink loop or repeated folder", root)
            skipped.append(Skipped(Path(root).relative_to(seeds_dir).as_posix(), "symlink loop or repeated folder"))
            dirs[:] = []
            continue
        seen_dirs.add(key)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if name.startswith("."):
                continue
            if not name.lower().endswith(SUFFIXES):
                path = Path(root) / name
                reason = f"not a document type the index reads ({', '.join(SUFFIXES)})"
                log.warning("skipping %s: %s", path, reason)
                skipped.append(Skipped(path.relative_to(seeds_dir).as_posix(), reason))
                continue
            files.append(Path(root) / name)
    return sorted(files, key=lambda p: p.relative_to(seeds_dir).as_posix())


def _read(path: Path, max_bytes: int) -> tuple[str | None, str, bytes]:
    """Return (reason to skip or None, decoded text, raw bytes)."""
    try:
        if not path.is_file():
            return "not a regular file (broken symlink?)", "", b""
        size = path.stat().st_size
        if size > max_bytes:
            return f"too large ({size / 1e6:.1f} MB > {max_bytes / 1e6:.1f} MB, see seeds.max_file_mb)", "", b""
        raw = path.read_bytes()
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})", "", b""
    if b"\x00" in raw:
        return "binary file (contains NUL bytes)", "", raw
    page = path.name.lower().endswith(HTML_SUFFIXES)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        charset = declared_charset(raw) if page else None
        if not charset:
            return f"not valid UTF-8 (byte {exc.start})", "", raw
        try:
            text = raw.decode(charset)
        except (LookupError, UnicodeDecodeError):
            return f"not valid UTF-8 (byte {exc.start}) nor its declared charset {charset!r}", "", raw
    if page:
        text = html_to_text(text)
        if not text.strip():
            return "no visible text in the page", "", raw
    if not text.strip():
        return "empty", "", raw
    return None, text, raw
