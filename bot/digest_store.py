"""Digest state: subscriptions, and what each chat's digests have carried.

Kept in the bot's state database (``bot.state``) so a restart neither repeats nor
loses a digest.  A chat is a string: a numeric chat id (``"-1001234"``) or an
``"@channel"`` name.  Chats listed in ``[digest] chats`` are subscribed unless
someone unsubscribed them; that choice is stored here and survives restarts.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from pathlib import Path

from bot.state import StateDB, iso, parse_iso

log = logging.getLogger(__name__)

# Where digest state lived before the shared state database; imported once if found.
LEGACY_FILE = "digest.sqlite"

SCHEMA = """
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


class DigestStore:
    """All digest state; every method is one short transaction, safe from several threads."""

    def __init__(self, db: StateDB):
        self.db = db
        db.ensure(SCHEMA)

    def import_legacy(self, path: Path) -> int:
        """Copy subscriptions and carried documents from an older ``digest.sqlite``; returns chats imported.

        Runs only while this store has no chats, so it happens once; the old file is left in place.
        """
        if not path.is_file() or self.db.run("SELECT 1 FROM chats LIMIT 1"):
            return 0
        try:
            old = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                chats = old.execute(
                    "SELECT chat, active, subscribed_at, changed_by, last_slot, last_posted FROM chats"
                ).fetchall()
                carried = old.execute("SELECT chat, doc, sha256 FROM carried").fetchall()
            finally:
                old.close()
        except sqlite3.DatabaseError as exc:
            log.warning("not importing digest state from %s: %s", path, exc)
            return 0
        with self.db.transaction() as tx:
            tx.run_many(
                "INSERT INTO chats (chat, active, subscribed_at, changed_by, last_slot, last_posted) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (chat) DO NOTHING",
                chats,
            )
            tx.run_many("INSERT INTO carried (chat, doc, sha256) VALUES (?, ?, ?) ON CONFLICT (chat, doc) DO NOTHING", carried)
        log.info("imported digest state of %d chat(s) from %s", len(chats), path)
        return len(chats)

    # ------------------------------------------------------------ subscriptions

    def sync_configured(self, chats: tuple[int | str, ...], now: datetime) -> None:
        """Add configured chats seen for the first time (a stored unsubscribe wins)."""
        self.db.run_many(
            "INSERT INTO chats (chat, active, subscribed_at, changed_by) VALUES (?, 1, ?, 'config') "
            "ON CONFLICT (chat) DO NOTHING",
            [(str(chat), iso(now)) for chat in chats],
        )

    def subscribe(self, chat: str, by: str, now: datetime) -> bool:
        """Subscribe ``chat``; False if it already was."""
        with self.db.transaction() as tx:
            row = tx.run("SELECT active FROM chats WHERE chat = ?", (chat,))
            if row and row[0][0]:
                return False
            tx.run(
                "INSERT INTO chats (chat, active, subscribed_at, changed_by) VALUES (?, 1, ?, ?) "
                "ON CONFLICT (chat) DO UPDATE SET active = 1, subscribed_at = excluded.subscribed_at, "
                "changed_by = excluded.changed_by",
                (chat, iso(now), by),
            )
            return True

    def unsubscribe(self, chat: str, by: str) -> bool:
        """Unsubscribe ``chat``; False if it was not subscribed."""
        with self.db.transaction() as tx:
            row = tx.run("SELECT active FROM chats WHERE chat = ?", (chat,))
            if not row or not row[0][0]:
                return False
            tx.run("UPDATE chats SET active = 0, changed_by = ? WHERE chat = ?", (by, chat))
            return True

    def subscribers(self) -> list[str]:
        return [row[0] for row in self.db.run("SELECT chat FROM chats WHERE active = 1 ORDER BY chat")]

    def is_subscribed(self, chat: str) -> bool:
        return bool(self.db.run("SELECT 1 FROM chats WHERE chat = ? AND active = 1", (chat,)))

    def subscribed_at(self, chat: str) -> datetime | None:
        rows = self.db.run("SELECT subscribed_at FROM chats WHERE chat = ?", (chat,))
        return parse_iso(rows[0][0]) if rows else None

    # ------------------------------------------------------------ what was sent

    def carried(self, chat: str) -> dict[str, str]:
        """Document -> content hash of the version the chat's digests have carried."""
        return dict(self.db.run("SELECT doc, sha256 FROM carried WHERE chat = ?", (chat,)))

    def last_slot(self, chat: str) -> datetime | None:
        rows = self.db.run("SELECT last_slot FROM chats WHERE chat = ?", (chat,))
        return parse_iso(rows[0][0]) if rows else None

    def record(self, chat: str, *, slot: datetime | None, documents: dict[str, str], posted: datetime) -> None:
        """Remember, atomically, that ``chat`` got ``documents`` (and the slot it was for)."""
        with self.db.transaction() as tx:
            tx.run_many(
                "INSERT INTO carried (chat, doc, sha256) VALUES (?, ?, ?) "
                "ON CONFLICT (chat, doc) DO UPDATE SET sha256 = excluded.sha256",
                [(chat, doc, sha) for doc, sha in documents.items()],
            )
            if slot is not None:
                tx.run("UPDATE chats SET last_slot = ?, last_posted = ? WHERE chat = ?", (iso(slot), iso(posted), chat))
            else:
                tx.run("UPDATE chats SET last_posted = ? WHERE chat = ?", (iso(posted), chat))
