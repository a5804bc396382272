"""Digest state in SQLite: subscriptions, and what each chat's digests have carried.

Kept under ``[bot] data_dir`` so a restart neither repeats nor loses a digest.
A chat is a string: a numeric chat id (``"-1001234"``) or an ``"@channel"`` name.
Chats listed in ``[digest] chats`` are subscribed unless someone unsubscribed them;
that choice is stored here and survives restarts.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    chat TEXT PRIMARY KEY,
    active INTEGER NOT NULL,
    subscribed_at TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    last_slot TEXT,
    last_posted TEXT
);
CREATE TABLE IF NOT EXISTS carried (
    chat TEXT NOT NULL,
    doc TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (chat, doc)
);
"""


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class DigestStore:
    """All digest state; every method is one short transaction, safe from several threads."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # ------------------------------------------------------------ subscriptions

    def sync_configured(self, chats: tuple[int | str, ...], now: datetime) -> None:
        """Add configured chats seen for the first time (a stored unsubscribe wins)."""
        for chat in chats:
            self._run(
                "INSERT OR IGNORE INTO chats (chat, active, subscribed_at, changed_by) VALUES (?, 1, ?, 'config')",
                (str(chat), _iso(now)),
            )

    def subscribe(self, chat: str, by: str, now: datetime) -> bool:
        """Subscribe ``chat``; False if it already was."""
        with self._lock:
            row = self._db.execute("SELECT active FROM chats WHERE chat = ?", (chat,)).fetchone()
            if row and row[0]:
                return False
            self._db.execute(
                "INSERT INTO chats (chat, active, subscribed_at, changed_by) VALUES (?, 1, ?, ?) "
                "ON CONFLICT(chat) DO UPDATE SET active = 1, subscribed_at = excluded.subscribed_at, "
                "changed_by = excluded.changed_by",
                (chat, _iso(now), by),
            )
            return True

    def unsubscribe(self, chat: str, by: str) -> bool:
        """Unsubscribe ``chat``; False if it was not subscribed."""
        with self._lock:
            row = self._db.execute("SELECT active FROM chats WHERE chat = ?", (chat,)).fetchone()
            if not row or not row[0]:
                return False
            self._db.execute("UPDATE chats SET active = 0, changed_by = ? WHERE chat = ?", (by, chat))
            return True

    def subscribers(self) -> list[str]:
        return [row[0] for row in self._run("SELECT chat FROM chats WHERE active = 1 ORDER BY chat")]

    def is_subscribed(self, chat: str) -> bool:
        return bool(self._run("SELECT 1 FROM chats WHERE chat = ? AND active = 1", (chat,)))

    def subscribed_at(self, chat: str) -> datetime | None:
        rows = self._run("SELECT subscribed_at FROM chats WHERE chat = ?", (chat,))
        return _parse(rows[0][0]) if rows else None

    # ------------------------------------------------------------ what was sent

    def carried(self, chat: str) -> dict[str, str]:
        """Document -> content hash of the version the chat's digests have carried."""
        return dict(self._run("SELECT doc, sha256 FROM carried WHERE chat = ?", (chat,)))

    def last_slot(self, chat: str) -> datetime | None:
        rows = self._run("SELECT last_slot FROM chats WHERE chat = ?", (chat,))
        return _parse(rows[0][0]) if rows else None

    def record(self, chat: str, *, slot: datetime | None, documents: dict[str, str], posted: datetime) -> None:
        """Remember, atomically, that ``chat`` got ``documents`` (and the slot it was for)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO carried (chat, doc, sha256) VALUES (?, ?, ?) "
                    "ON CONFLICT(chat, doc) DO UPDATE SET sha256 = excluded.sha256",
                    [(chat, doc, sha) for doc, sha in documents.items()],
                )
                if slot is not None:
                    self._db.execute(
                        "UPDATE chats SET last_slot = ?, last_posted = ? WHERE chat = ?", (_iso(slot), _iso(posted), chat)
                    )
                else:
                    self._db.execute("UPDATE chats SET last_posted = ? WHERE chat = ?", (_iso(posted), chat))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self._db.close()
