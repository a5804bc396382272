"""The bot's own state database: one SQLite file by default, shared by every part of the bot.

Usage::

    db = open_state(config.bot, password)                     # SQLite, or PostgreSQL with [bot] database_url
    db = StateDB.open_sqlite(config.bot.data_dir / STATE_FILE)
    db.ensure(DIGEST_SCHEMA)                                  # idempotent DDL
    db.run("INSERT INTO chats (chat, active) VALUES (?, 1) ON CONFLICT (chat) DO NOTHING", ("-100",))
    with db.transaction() as tx:                               # all or nothing
        tx.run("UPDATE chats SET active = 0 WHERE chat = ?", ("-100",))
    kv = KeyValue(db)                                          # small JSON records with an expiry
    kv.put("turn", "chat:7", {"question": "..."}, expires=now + timedelta(minutes=10))

Everything the bot must remember across restarts (digest subscriptions, and what
the parts built on this keep) lives here rather than in memory, so a restart loses
nothing and several bot processes can share it.  Callers write SQL that SQLite and
PostgreSQL both accept: ``?`` placeholders, ``INSERT ... ON CONFLICT``, ``RETURNING``,
``BIGINT`` for Telegram ids (they exceed 32 bits), ``DOUBLE PRECISION`` for floats,
times as ISO-8601 UTC text.  ``{id}`` in DDL declares ``id``, an auto-numbered primary key.

SQLite runs in WAL mode with a busy timeout: a ``kill -9`` loses at most the
transaction in flight, and several processes on one host can share the file.
PostgreSQL (``bot.state_postgres``, chosen by ``[bot] database_url``) serves replicas
on several hosts; transactions run one at a time there too (an advisory lock).
Every method is a short blocking call, safe from several threads; call them through
``asyncio.to_thread`` from handlers when they may wait on a lock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol, Sequence

from core.errors import StateError

if TYPE_CHECKING:
    from core.config import BotConfig

log = logging.getLogger(__name__)

STATE_FILE = "state.sqlite"
# Seconds a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT = 10.0

_KV_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    expires_at TEXT,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires_at);
"""


def iso(moment: datetime) -> str:
    """``moment`` as ISO-8601 UTC text (seconds): sorts and compares correctly as a string."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class Runner(Protocol):
    def run(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]: ...


class _SqliteTx:
    """Statements inside one ``StateDB.transaction``."""

    def __init__(self, connection: sqlite3.Connection):
        self._connection = connection

    def run(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        return self._connection.execute(sql, tuple(args)).fetchall()

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._connection.executemany(sql, [tuple(r) for r in rows])


class StateDB:
    """A SQL database for bot state.  ``dialect`` is ``"sqlite"`` (or ``"postgres"`` for backends that add it)."""

    dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection, where: str):
        self._connection = connection
        self._lock = threading.RLock()
        self.where = where  # for log lines and errors: a file path, never a password

    @classmethod
    def open_sqlite(cls, path: Path) -> "StateDB":
        """Open (creating) the SQLite state file at ``path``, in WAL mode."""
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT)
        connection.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable in WAL mode against a killed process; only a power cut can lose
        # the last transactions, never corrupt the file.
        connection.execute("PRAGMA synchronous=NORMAL")
        return cls(connection, str(path))

    @classmethod
    def open_postgres(cls, url: str, password: str | None = None) -> "StateDB":
        """Connect to the PostgreSQL database at ``url`` (no password in it; ``password`` goes separately).

        Raises:
            StateError: the server cannot be reached or refuses the login.
        """
        from bot.state_postgres import PostgresStateDB  # psycopg is needed only here (the postgres extra)

        return PostgresStateDB(url, password)

    def ensure(self, ddl: str) -> None:
        """Run idempotent DDL (``CREATE ... IF NOT EXISTS``); ``{id}`` declares an auto-numbered ``id`` key."""
        with self._lock:
            self._connection.executescript(ddl.replace("{id}", "id INTEGER PRIMARY KEY AUTOINCREMENT"))

    def run(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        """One statement in its own transaction; returns its rows (``RETURNING`` included)."""
        with self._lock:
            return self._connection.execute(sql, tuple(args)).fetchall()

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.transaction() as tx:
            tx.run_many(sql, rows)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[_SqliteTx]:
        """Statements that happen together or not at all; writers from other processes wait."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTx(self._connection)
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def open_state(config: "BotConfig", password: str | None = None) -> StateDB:
    """The state database ``config`` names: PostgreSQL at ``database_url`` if set, else SQLite in ``data_dir``."""
    if config.database_url:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise StateError(
                "bot.database_url is set but psycopg is not installed; install the postgres extra: "
                "pip install -e '.[postgres]'"
            ) from None
        db = StateDB.open_postgres(config.database_url, password)
    else:
        db = StateDB.open_sqlite(config.data_dir / STATE_FILE)
    log.info("bot state in %s (%s)", db.where, db.dialect)
    return db


class KeyValue:
    """Small JSON records by (namespace, key), each with an optional expiry; expired ones read as absent."""

    def __init__(self, db: StateDB):
        self.db = db
        db.ensure(_KV_SCHEMA)

    def put(self, namespace: str, key: str, value: Any, *, expires: datetime | None = None) -> None:
        self.db.run(
            "INSERT INTO kv (namespace, key, value, expires_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
            (namespace, key, json.dumps(value, ensure_ascii=False), iso(expires) if expires else None),
        )

    def get(self, namespace: str, key: str, *, now: datetime) -> Any | None:
        rows = self.db.run(
            "SELECT value FROM kv WHERE namespace = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)",
            (namespace, key, iso(now)),
        )
        return json.loads(rows[0][0]) if rows else None

    def delete(self, namespace: str, key: str) -> None:
        self.db.run("DELETE FROM kv WHERE namespace = ? AND key = ?", (namespace, key))

    def purge(self, now: datetime) -> int:
        """Delete expired records; returns how many."""
        return len(self.db.run("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ? RETURNING key", (iso(now),)))
