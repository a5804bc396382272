"""Put documents that arrive through Telegram into the seeds folder, and take them out again.

Usage::

    inbox = SeedInbox(seeds_dir, subfolder="telegram", max_bytes=20 * 2**20)
    saved = inbox.save_upload("Report Q3.pdf", data, added_by=42, title="Q3 report", indexed=manifest_hashes)
    saved.doc, saved.status          # "telegram/Report Q3.pdf", "added" (or "changed", "unchanged", "duplicate")
    inbox.save_post(channel="news", chat_id=-100123, message_id=7, text=post, stamp=(date, update_id))
    inbox.forget("telegram/Report Q3.pdf")

Nothing here talks to Telegram: the bot downloads, this module checks and stores.  A
document is read with the build's own reader before it is stored, so a scanned PDF or
an empty file is refused with the reason instead of sitting in the folder as a file
every build skips.  Files are written to a hidden temporary name and renamed, so an
interrupted write never leaves half a document where the build reads.  Names sent by
users become safe file names: no path parts, no control characters, no leading dot,
always inside ``<seeds>/<subfolder>/``.  Where each document came from (its link, post
link, a title given with it) goes to the registry (``index.sources``), which every
build reads.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from core.errors import IngestError
from core.text import shorten
from index.chunk import TITLE_CHARS
from index.documents import SUFFIXES, read_bytes
from index.sources import DocumentSource, SourceRegistry, write_atomic

log = logging.getLogger(__name__)

# Longest file name written, in UTF-8 bytes (file systems allow 255; room for the temporary suffix).
MAX_NAME_BYTES = 150
POSTS = "posts"
LINKS = "links"
# Types a document sent without a usable file name may still be, by its MIME type.
MIME_SUFFIXES = {
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}
_UNSAFE = set('<>:"|?*\\/')


def safe_name(name: str | None, fallback: str = "document") -> str:
    """A file name that stays where it is put: the last part of ``name``, printable, no leading dot.

    ``"../../etc/passwd.txt"`` -> ``"passwd.txt"``; ``"re\\x00port\\n.md"`` -> ``"re_port.md"``;
    ``".."`` -> ``fallback``.  The suffix is lower-cased; over-long stems are cut.
    """
    text = unicodedata.normalize("NFKC", name or "")
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(ch if ch.isprintable() and ch not in _UNSAFE else "_" for ch in text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    text = re.sub(r"_{2,}", "_", text)
    stem, dot, suffix = text.rpartition(".")
    if not dot or not re.fullmatch(r"[A-Za-z0-9]{1,10}", suffix):
        stem, suffix = text, ""
    suffix = f".{suffix.lower()}" if suffix else ""
    while len((stem + suffix).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    stem = stem.strip(" ._")
    if not stem:
        stem = fallback
    return stem + suffix


def document_suffix(file_name: str | None, mime_type: str | None) -> str | None:
    """The suffix the reader knows a sent file by (from its name, else its MIME type), or None."""
    name = (file_name or "").lower()
    suffix = next((s for s in SUFFIXES if name.endswith(s)), None)
    if suffix:
        return suffix
    if not os.path.splitext(name)[1]:  # no suffix at all: go by the MIME type
        return MIME_SUFFIXES.get((mime_type or "").split(";")[0].strip().lower())
    return None


def upload_name(file_name: str | None, mime_type: str | None) -> str:
    """The safe file name an upload is stored under (its suffix one the reader reads)."""
    suffix = document_suffix(file_name, mime_type)
    if suffix is None:
        raise IngestError(f"not a document type I read ({', '.join(SUFFIXES)})")
    name = safe_name(file_name or "", fallback="document")
    if not name.lower().endswith(suffix):
        name = safe_name(name + suffix)
    return name


def post_doc(subfolder: str, channel: str, message_id: int) -> str:
    """The document name of a channel post: ``telegram/posts/<channel>-<id>.txt`` (stable across edits)."""
    return f"{subfolder}/{POSTS}/{safe_name(channel, fallback='channel')}-{int(message_id)}.txt"


def post_title(text: str) -> str:
    """A post's title: its first non-empty line."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return shorten(first.strip("#*_ \t"), TITLE_CHARS) or "(untitled post)"


@dataclass(frozen=True)
class Saved:
    """What ``save_*`` did with a document."""

    doc: str
    status: str  # "added", "changed", "unchanged" (same file, same content) or "duplicate" (same content elsewhere)
    title: str | None = None

    @property
    def stored(self) -> bool:
        """Whether the seeds folder changed (so a build is needed)."""
        return self.status in ("added", "changed")


class SeedInbox:
    """The part of the seeds folder that Telegram writes to.  Blocking; safe from several threads."""

    def __init__(self, seeds_dir: Path, subfolder: str = "telegram", max_bytes: int = 20 * 1024 * 1024):
        self.seeds_dir = Path(seeds_dir)
        self.subfolder = subfolder
        self.max_bytes = max_bytes
        self.registry = SourceRegistry(self.seeds_dir)
        self._lock = threading.Lock()  # one save or removal at a time: checks and writes stay consistent

    # ------------------------------------------------------------ adding

    def save_upload(
        self,
        file_name: str | None,
        data: bytes,
        *,
        mime_type: str | None = None,
        added_by: int | None = None,
        title: str | None = None,
        source: str | None = None,
        messages: tuple[str, ...] = (),
        indexed: dict[str, str] | None = None,
    ) -> Saved:
        """Store an uploaded file as ``<subfolder>/<safe name>``.

        Args:
            indexed: document -> content hash of the index serving now, to spot the same
                content under another name.

        Raises:
            IngestError: not a document type the reader reads, too large, or unreadable (the reason).
        """
        doc = f"{self.subfolder}/{upload_name(file_name, mime_type)}"
        record = DocumentSource(doc, kind="upload", source=source, title=_clean_title(title), added_by=added_by, messages=messages)
        return self._save(doc, data, record, indexed or {})

    def save_link(self, url: str, name: str, data: bytes, *, added_by: int | None, messages: tuple[str, ...] = (),
                  indexed: dict[str, str] | None = None) -> Saved:
        """Store a fetched link as ``<subfolder>/links/<name>`` with ``url`` as its source."""
        doc = f"{self.subfolder}/{LINKS}/{safe_name(name, fallback='link')}"
        record = DocumentSource(doc, kind="link", source=url, added_by=added_by, messages=messages)
        return self._save(doc, data, record, indexed or {})

    def save_post(
        self,
        *,
        channel: str,
        message_id: int,
        text: str,
        link: str | None,
        stamp: tuple[int, int] = (0, 0),
        added_by: int | None = None,
        messages: tuple[str, ...] = (),
        indexed: dict[str, str] | None = None,
    ) -> Saved:
        """Store a channel post (or an edit of it) as ``<subfolder>/posts/<channel>-<id>.txt``.

        ``stamp`` (edit date, update id) orders versions: an edit older than the stored one
        (updates handled out of order) changes nothing.
        """
        doc = post_doc(self.subfolder, channel, message_id)
        record = DocumentSource(
            doc, kind="post", source=link, title=post_title(text), added_by=added_by, messages=messages, stamp=stamp
        )
        return self._save(doc, text.encode("utf-8"), record, indexed or {})

    def _save(self, doc: str, data: bytes, record: DocumentSource, indexed: dict[str, str]) -> Saved:
        if len(data) > self.max_bytes:
            raise IngestError(
                f"too large ({len(data) / 1e6:.1f} MB; documents may be at most {self.max_bytes / 2**20:g} MB, "
                "[seeds] max_file_mb)"
            )
        if not data:
            raise IngestError("the file is empty")
        reason, _, sha256, _ = read_bytes(doc, data)
        if reason:
            raise IngestError(reason)
        path = self._path(doc)
        with self._lock:
            known = self.registry.all()
            old = known.get(doc)
            if old is not None and old.stamp > record.stamp and path.exists():
                return Saved(doc, "unchanged", old.title)  # a newer edit of this post is stored already
            same = self._same_content(doc, data, sha256, known, indexed)
            if same is not None:
                # Index nothing twice; the messages still lead /forget to the document.
                if record.messages:
                    self.registry.add_messages(same, *record.messages)
                if same == doc and old is not None and record.stamp > old.stamp:
                    self.registry.put(replace(self.registry.get(doc) or old, stamp=record.stamp))
                title = known[same].title if same in known else None
                return Saved(same, "unchanged" if same == doc else "duplicate", title)
            status = "changed" if path.exists() else "added"
            messages = tuple(dict.fromkeys((old.messages if old else ()) + record.messages))
            write_atomic(path, data)
            self.registry.put(replace(record, sha256=sha256, added=_now(), messages=messages))
        log.info("stored %s (%s, %d bytes)", doc, status, len(data))
        return Saved(doc, status, record.title)

    def _same_content(
        self, doc: str, data: bytes, sha256: str, known: dict[str, DocumentSource], indexed: dict[str, str]
    ) -> str | None:
        """A document with this content: this very one if its file holds these bytes, else another one."""
        path = self._path(doc)
        try:
            if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
                return doc
        except OSError:
            pass
        others = [o for o, sha in indexed.items() if sha == sha256] + [o for o, r in known.items() if r.sha256 == sha256]
        return next((o for o in others if o != doc and (self.seeds_dir / o).is_file()), None)

    # ------------------------------------------------------------ removing

    def forget(self, doc: str) -> bool:
        """Delete ``doc`` from the seeds folder and the registry; False if it was not there.

        Raises:
            IngestError: ``doc`` lies outside the seeds folder (a linked folder), so it is left alone.
        """
        path = self._path(doc)
        with self._lock:
            root = self.seeds_dir.resolve()
            if not path.resolve().is_relative_to(root):
                raise IngestError(f"{doc} is linked from outside the seeds folder; remove it on the server")
            existed = path.is_file()
            path.unlink(missing_ok=True)
            self.registry.remove(doc)
        if existed:
            log.info("removed %s from the seeds folder", doc)
        return existed

    def _path(self, doc: str) -> Path:
        """The file of ``doc``; refuses names that would leave the seeds folder."""
        parts = doc.split("/")
        if not doc or doc.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in doc or "\0" in doc:
            raise IngestError(f"{doc!r} is not a document name inside the seeds folder")
        return self.seeds_dir.joinpath(*parts)


def _clean_title(title: str | None) -> str | None:
    if not title or not title.strip():
        return None
    return shorten(title, TITLE_CHARS)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def url_digest(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:8]
