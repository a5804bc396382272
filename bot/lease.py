"""Leases in the state database: one replica at a time does a job (post digests, run a reindex).

Usage::

    lease = Lease(db, "digest", holder=replica_id(), ttl=timedelta(minutes=3))
    if lease.acquire():          # True while this replica holds it; renews it each call
        ...                      # post the digests
    lease.release()              # at shutdown: another replica takes over at once

A lease is a row (name, holder, expiry).  ``acquire`` is one atomic statement: it
takes the row when it is free or expired, renews it when this holder has it, and
changes nothing otherwise, so two replicas can never both hold it, on SQLite or
PostgreSQL.  A holder that dies without releasing loses the lease when it expires.
Expiries use each host's clock: keep the hosts in time (NTP); a skew well under the
lease's ``ttl`` is harmless.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta, timezone
from typing import Callable

from bot.state import StateDB

SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
"""


def replica_id() -> str:
    """This process, named for logs and lease rows: host, process id and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _stamp(moment: datetime) -> str:
    # Fixed-width ISO-8601 UTC with microseconds: compares correctly as text on both backends.
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


class Lease:
    """A named lease held by at most one ``holder`` at a time.  Blocking calls: use ``asyncio.to_thread``."""

    def __init__(self, db: StateDB, name: str, *, holder: str, ttl: timedelta, clock: Callable[[], datetime] = _utc_now):
        self.db = db
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self.clock = clock
        db.ensure(SCHEMA)

    def acquire(self) -> bool:
        """Take the lease if it is free or expired, or renew it if held; False if another holder has it."""
        now = self.clock()
        rows = self.db.run(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
            "WHERE leases.holder = excluded.holder OR leases.expires_at <= ? "
            "RETURNING holder",
            (self.name, self.holder, _stamp(now + self.ttl), _stamp(now)),
        )
        return bool(rows)

    def holder_now(self) -> str | None:
        """Who holds the lease now (None when nobody does)."""
        rows = self.db.run(
            "SELECT holder FROM leases WHERE name = ? AND expires_at > ?", (self.name, _stamp(self.clock()))
        )
        return rows[0][0] if rows else None

    def release(self) -> None:
        """Give the lease up (only if this holder has it)."""
        self.db.run("DELETE FROM leases WHERE name = ? AND holder = ?", (self.name, self.holder))
