"""The bot's state database on PostgreSQL, for several bot processes (replicas) on several hosts.

Usage::

    db = StateDB.open_postgres("postgresql://bot@db.internal:5432/bot", password=os.environ["BOT_DATABASE_PASSWORD"])
    db.run("SELECT chat FROM chats WHERE active = ?", (1,))      # the same portable SQL as on SQLite

Chosen by ``[bot] database_url``; see ``bot.state`` for the SQL every caller writes.
Statements are translated once (``?`` -> ``%s``, a literal ``%`` -> ``%%``) and run on
connections from a small pool (psycopg 3), each checked before use so a restarted
server costs one failed check, not a failed question.  ``transaction`` takes a
transaction-scoped advisory lock, so transactions from all replicas run one at a time,
exactly as SQLite's ``BEGIN IMMEDIATE`` makes them on one host: code that reads and then
writes inside a transaction is correct on both.  ``ensure`` (DDL) takes the same lock:
``CREATE TABLE IF NOT EXISTS`` from two processes starting at once would otherwise race.

The password never appears in ``where``, in log lines or in error messages.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from typing import Any, Iterator, Sequence

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from bot.state import StateDB
from core.errors import StateError

log = logging.getLogger(__name__)

# Advisory lock key for transactions and DDL ("docqa" in ASCII, as a 64-bit integer).
LOCK_KEY = 0x646F637161
POOL_SIZE = 10  # worker threads (asyncio.to_thread) plus jobs, with room to spare
CONNECT_TIMEOUT = 10  # seconds


@functools.lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """``?`` placeholders -> ``%s`` and ``%`` -> ``%%``, leaving quoted strings' question marks alone."""
    out = []
    quote = None
    for char in sql:
        if char == "%":
            out.append("%%")
        elif quote:
            out.append(char)
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


def without_password(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def _rows(cursor: psycopg.Cursor) -> list[tuple]:
    return cursor.fetchall() if cursor.description is not None else []


class _PostgresTx:
    """Statements inside one ``PostgresStateDB.transaction``."""

    def __init__(self, connection: psycopg.Connection):
        self._connection = connection

    def run(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        return _rows(self._connection.execute(to_pyformat(sql), tuple(args)))

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        rows = [tuple(r) for r in rows]
        if rows:
            with self._connection.cursor() as cursor:
                cursor.executemany(to_pyformat(sql), rows)


class PostgresStateDB(StateDB):
    """``StateDB`` on a PostgreSQL server (``dialect == "postgres"``); open with ``StateDB.open_postgres``."""

    dialect = "postgres"

    def __init__(self, url: str, password: str | None = None, *, pool_size: int = POOL_SIZE):
        self.where = without_password(url)
        self._password = password
        kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT}
        if password:
            kwargs["password"] = password
        # One direct connection first: a wrong host or password fails here with the server's own words.
        try:
            psycopg.connect(url, **kwargs).close()
        except psycopg.Error as exc:
            raise StateError(f"cannot open the state database {self.where}: {self._clean(exc)}") from None
        self._pool = ConnectionPool(
            url,
            kwargs=kwargs,
            min_size=1,
            max_size=pool_size,
            open=False,
            check=ConnectionPool.check_connection,
            name="bot-state",
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except PoolTimeout as exc:
            self._pool.close()
            raise StateError(f"cannot open the state database {self.where}: {self._clean(exc)}") from None

    def _clean(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split()) or exc.__class__.__name__
        return text.replace(self._password, "***") if self._password else text

    def ensure(self, ddl: str) -> None:
        """Run idempotent DDL under the advisory lock; ``{id}`` declares an auto-numbered ``id`` key."""
        with self._pool.connection() as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            # No parameters: psycopg sends the text as is, several statements at once.
            connection.execute(ddl.replace("{id}", "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"))

    def run(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        """One statement in its own transaction; returns its rows (``RETURNING`` included)."""
        with self._pool.connection() as connection:
            return _rows(connection.execute(to_pyformat(sql), tuple(args)))

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.transaction() as tx:
            tx.run_many(sql, rows)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[_PostgresTx]:
        """Statements that happen together or not at all; transactions of all replicas run one at a time."""
        with self._pool.connection() as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            yield _PostgresTx(connection)

    def close(self) -> None:
        self._pool.close()
