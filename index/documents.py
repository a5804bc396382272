"""Read the seed documents: text, Markdown, saved web pages, PDFs and Word files, skipping bad ones loudly.

A file that is binary, empty, too large, not valid UTF-8 or unreadable is skipped
with a warning that names it, and so is a file of a type the index cannot read (a
spreadsheet, say), rather than left out silently.  The rest are returned, sorted by
path, so builds are deterministic.  A web page (``.html``, ``.htm``) becomes its title
and visible paragraphs (``index.markup``; it may also be in the character set its
``<meta charset>`` declares); a PDF, the paragraphs of its text layer
(``index.pdf_text``); a Word file, its paragraphs and table rows (``index.docx_text``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from index.compose import Unreadable
from index.docx_text import docx_to_text
from index.markup import declared_charset, html_to_text
from index.pdf_text import pdf_to_text

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md")
HTML_SUFFIXES = (".html", ".htm")
PDF_SUFFIXES = (".pdf",)
DOCX_SUFFIXES = (".docx",)
SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES + PDF_SUFFIXES + DOCX_SUFFIXES
_CONVERTED = (("pdf", PDF_SUFFIXES), ("html", HTML_SUFFIXES), ("docx", DOCX_SUFFIXES))
# Converters that read the raw bytes themselves: (text, page starts) or Unreadable.
_BINARY_CONVERTERS: dict[str, Callable[[bytes], tuple[str, tuple[int, ...]]]] = {
    "pdf": lambda raw: pdf_to_text(raw),
    "docx": lambda raw: (docx_to_text(raw), ()),
}
# Bump when a converter's output changes: files it converted are then read and embedded again.
READER_VERSIONS = {"html": 1, "pdf": 1, "docx": 1}


@dataclass(frozen=True)
class Document:
    """One seed file: ``doc`` is its path relative to the seeds folder, with ``/``."""

    doc: str
    text: str
    sha256: str
    pages: tuple[int, ...] = ()  # a PDF's page starts in ``text`` (see ``index.pdf_text.page_of``)


@dataclass(frozen=True)
class Skipped:
    """A file left out of the index, and why."""

    path: str
    reason: str


def read_documents(
    seeds_dir: Path,
    *,
    max_bytes: int = 20 * 1024 * 1024,
    known_text: Callable[[str, str], tuple[str, tuple[int, ...]] | None] | None = None,
) -> tuple[list[Document], list[Skipped]]:
    """Read every ``.txt``/``.md``/``.html``/``.pdf``/``.docx`` file under ``seeds_dir`` (recursively, symlinks not followed into loops).

    Args:
        known_text: ``known_text(doc, sha256)`` returns the (text, page starts) an
            earlier build read from that very file, or None; web pages and PDFs found
            there are not converted again (a PDF takes about a second per hundred pages).

    Returns:
        The readable documents, and the files skipped with their reasons (each also logged as a warning).
    """
    documents: list[Document] = []
    skipped: list[Skipped] = []
    for path in _candidate_files(seeds_dir, skipped):
        rel = path.relative_to(seeds_dir).as_posix()
        reason, text, sha256, pages = _read(path, max_bytes, lambda sha: known_text(rel, sha) if known_text else None)
        if reason:
            log.warning("skipping %s: %s", path, reason)
            skipped.append(Skipped(rel, reason))
            continue
        documents.append(Document(doc=rel, text=text, sha256=sha256, pages=pages))
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


def _read(
    path: Path, max_bytes: int, known_text: Callable[[str], tuple[str, tuple[int, ...]] | None]
) -> tuple[str | None, str, str, tuple[int, ...]]:
    """Return (reason to skip or None, the document's text, its sha256, its page starts)."""
    try:
        if not path.is_file():
            return "not a regular file (broken symlink?)", "", "", ()
        size = path.stat().st_size
        if size > max_bytes:
            return f"too large ({size / 1e6:.1f} MB > {max_bytes / 1e6:.1f} MB, see seeds.max_file_mb)", "", "", ()
        raw = path.read_bytes()
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})", "", "", ()
    return _convert(path.name, raw, known_text)


def read_bytes(name: str, raw: bytes) -> tuple[str | None, str, str, tuple[int, ...]]:
    """What a build would read from ``raw`` saved as a file called ``name``: (reason to skip or None, text, sha256, page starts).

    Lets a document be checked (and its content hash compared) before it enters the seeds folder.
    """
    if not name.lower().endswith(SUFFIXES):
        return f"not a document type the index reads ({', '.join(SUFFIXES)})", "", "", ()
    return _convert(name, raw, lambda sha: None)


def _convert(
    name: str, raw: bytes, known_text: Callable[[str], tuple[str, tuple[int, ...]] | None]
) -> tuple[str | None, str, str, tuple[int, ...]]:
    name = name.lower()
    converter = next((kind for kind, suffixes in _CONVERTED if name.endswith(suffixes)), None)
    if converter is None:
        sha256 = hashlib.sha256(raw).hexdigest()
    else:
        # The converter's version is part of a converted file's identity, so a better
        # converter re-reads (and re-embeds) files whose bytes did not change.
        sha256 = hashlib.sha256(f"{converter}-reader-{READER_VERSIONS[converter]}\0".encode() + raw).hexdigest()
        known = known_text(sha256)
        if known is not None:
            return None, known[0], sha256, known[1]
    if converter in _BINARY_CONVERTERS:
        try:
            text, pages = _BINARY_CONVERTERS[converter](raw)
        except Unreadable as exc:
            return str(exc), "", sha256, ()
        return None, text, sha256, pages
    if b"\x00" in raw:
        return "binary file (contains NUL bytes)", "", sha256, ()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        charset = declared_charset(raw) if converter == "html" else None
        if not charset:
            return f"not valid UTF-8 (byte {exc.start})", "", sha256, ()
        try:
            text = raw.decode(charset)
        except (LookupError, UnicodeDecodeError):
            return f"not valid UTF-8 (byte {exc.start}) nor its declared charset {charset!r}", "", sha256, ()
    if converter == "html":
        text = html_to_text(text)
        if not text.strip():
            return "no visible text in the page", "", sha256, ()
    if not text.strip():
        return "empty", "", sha256, ()
    return None, text, sha256, ()
