"""Where documents that came through Telegram came from: one JSON registry in the seeds folder.

Usage::

    registry = SourceRegistry(seeds_dir)
    registry.put(DocumentSource("telegram/report.pdf", sha256, kind="upload", title="Q3 report"))
    registry.find_message(chat_id, message_id)        # the document an upload or report was about
    read_sources(seeds_dir)["telegram/report.pdf"].title   # what every build reads

The registry is ``<seeds>/.sources.json``: document name (as the index names it) ->
its source URL or post link, a title given with it (an upload's caption, a post's
first line), its content hash, and the Telegram messages that brought or reported it.
One file rather than a sidecar per document: a build reads it once instead of opening
a file beside every document; it is replaced atomically (temporary file, fsync, rename),
so a crash leaves the old or the new registry, never half of one; the reader skips
dot-files, so it is never indexed itself; and an operator can read or edit it.  An
entry whose file was deleted by hand is ignored (builds look up the documents they
read) and dropped the next time the registry is written.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import uuid
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

log = logging.getLogger(__name__)

REGISTRY = ".sources.json"
LOCK = ".sources.lock"  # held while the registry is rewritten, by every process (bot replicas share the folder)
FORMAT = 1


@dataclass(frozen=True)
class DocumentSource:
    """What the registry knows about one document."""

    doc: str  # path relative to the seeds folder, with "/" (the index's document name)
    sha256: str = ""  # content hash, as the reader computes it (``index.documents.read_bytes``)
    kind: str = "upload"  # "upload", "link" or "post"
    source: str | None = None  # http(s) URL of the original: the link, or the post's t.me link
    title: str | None = None  # replaces the title the reader finds
    added_by: int | None = None  # Telegram user id (None for channel posts)
    added: str = ""  # ISO time
    messages: tuple[str, ...] = ()  # "chat:message" ids of the upload and of the bot's report
    stamp: tuple[int, int] = (0, 0)  # (edit or post date, update id) of a post's version on disk

    def to_json(self) -> dict:
        data = asdict(self)
        del data["doc"]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items() if v not in (None, "", (), [])}

    @classmethod
    def from_json(cls, doc: str, data: dict) -> "DocumentSource":
        known = {f.name for f in fields(cls)} - {"doc"}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("messages", "stamp"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(doc=doc, **values)


def message_key(chat_id: int | str, message_id: int) -> str:
    return f"{chat_id}:{message_id}"


def read_sources(seeds_dir: Path) -> dict[str, DocumentSource]:
    """The registry of ``seeds_dir`` (empty if there is none; a damaged one is logged and ignored)."""
    path = Path(seeds_dir) / REGISTRY
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        entries = raw["documents"]
        return {doc: DocumentSource.from_json(doc, data) for doc, data in entries.items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        # Sources and titles are lost from citations until it is fixed; the documents are still indexed.
        log.warning("ignoring %s: unreadable (%s: %s)", path, exc.__class__.__name__, exc)
        return {}


class SourceRegistry:
    """Read-modify-write access to the registry; one per process, safe from several threads."""

    def __init__(self, seeds_dir: Path):
        self.seeds_dir = Path(seeds_dir)
        self.path = self.seeds_dir / REGISTRY
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _locked(self):
        """One read-modify-write at a time: across threads (the lock) and processes (``flock``)."""
        with self._lock:
            self.seeds_dir.mkdir(parents=True, exist_ok=True)
            with open(self.seeds_dir / LOCK, "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def all(self) -> dict[str, DocumentSource]:
        return read_sources(self.seeds_dir)  # replaced atomically: a read needs no lock

    def get(self, doc: str) -> DocumentSource | None:
        return self.all().get(doc)

    def put(self, record: DocumentSource) -> None:
        with self._locked():
            entries = self._live(read_sources(self.seeds_dir))
            entries[record.doc] = record
            self._write(entries)

    def add_messages(self, doc: str, *keys: str) -> None:
        """Remember that messages ``keys`` were about ``doc`` (so /forget in reply to them finds it)."""
        with self._locked():
            entries = read_sources(self.seeds_dir)
            record = entries.get(doc) or DocumentSource(doc)
            entries[doc] = replace(record, messages=tuple(dict.fromkeys(record.messages + keys)))
            self._write(self._live(entries))

    def remove(self, doc: str) -> None:
        with self._locked():
            entries = read_sources(self.seeds_dir)
            if entries.pop(doc, None) is not None:
                self._write(self._live(entries))

    def find_message(self, chat_id: int | str, message_id: int) -> str | None:
        key = message_key(chat_id, message_id)
        return next((doc for doc, r in self.all().items() if key in r.messages), None)

    def find_source(self, url: str) -> str | None:
        return next((doc for doc, r in self.all().items() if r.source == url), None)

    def _live(self, entries: dict[str, DocumentSource]) -> dict[str, DocumentSource]:
        """Entries whose file is still in the seeds folder."""
        return {doc: r for doc, r in entries.items() if (self.seeds_dir / doc).exists()}

    def _write(self, entries: dict[str, DocumentSource]) -> None:
        body = {"format": FORMAT, "documents": {doc: entries[doc].to_json() for doc in sorted(entries)}}
        write_atomic(self.path, (json.dumps(body, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a hidden temporary file in the same folder, then rename.

    Readers (and the seed reader, which skips dot-files) see the old file or the new one,
    never a partial one; if anything fails, the temporary file is removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.part"
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
