"""Answers shown with buttons, kept in the state database under the short key the buttons carry.

Usage::

    answers = AnswerStore(db)                        # db: bot.state.StateDB
    key = answers.add(CachedAnswer(answer, page_size=3))
    answers.get(key)                                  # the same answer, on any replica, after a restart

"More extracts" and "Full paragraph" buttons carry ``<action>:<key>:<n>`` (Telegram allows
64 bytes of callback data), so the answer itself lives here, as JSON with an expiry
(``ANSWER_TTL``).  The bot process that answered may not be the one that gets the button
press: with replicas behind one webhook any of them may, and so may a restarted bot.
A record that cannot be read back (expired, or written by a version with other fields)
reads as absent, and the user is asked to ask again.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from bot.state import KeyValue, StateDB
from retrieval.retriever import Answer, Extract

log = logging.getLogger(__name__)

NAMESPACE = "answer"
# How long the buttons under an answer keep working.
ANSWER_TTL = timedelta(days=2)


@dataclass(frozen=True)
class CachedAnswer:
    answer: Answer
    page_size: int


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def answer_record(item: CachedAnswer) -> dict[str, Any]:
    """``item`` as plain JSON-able data."""
    # The buttons need no follow-up turns (kept by bot.followups, with their own expiry).
    answer = dataclasses.replace(item.answer, turn=None, context=None)
    return {"page_size": item.page_size, "answer": dataclasses.asdict(answer)}


def _extract(data: dict[str, Any] | None) -> Extract | None:
    if data is None:
        return None
    known = {f.name for f in dataclasses.fields(Extract)}
    return Extract(**{k: v for k, v in data.items() if k in known})


def answer_from_record(record: dict[str, Any]) -> CachedAnswer:
    """The ``CachedAnswer`` ``answer_record`` wrote.  Raises KeyError/TypeError on a record it cannot read."""
    data = dict(record["answer"])
    data["sentence"] = _extract(data.get("sentence"))
    data["candidate"] = _extract(data.get("candidate"))
    data["extracts"] = [_extract(e) for e in data.get("extracts", [])]
    known = {f.name for f in dataclasses.fields(Answer)}
    return CachedAnswer(Answer(**{k: v for k, v in data.items() if k in known}), int(record["page_size"]))


class AnswerStore:
    """Recent answers by short random key.  Blocking calls (a database round trip): use ``asyncio.to_thread``."""

    def __init__(self, db: StateDB, *, ttl: timedelta = ANSWER_TTL, clock: Callable[[], datetime] = _utc_now):
        self.records = KeyValue(db)
        self.ttl = ttl
        self.clock = clock

    def add(self, item: CachedAnswer) -> str:
        key = secrets.token_urlsafe(6)  # random: a button never reaches another chat's answer by guessing
        self.records.put(NAMESPACE, key, answer_record(item), expires=self.clock() + self.ttl)
        return key

    def get(self, key: str) -> CachedAnswer | None:
        record = self.records.get(NAMESPACE, key, now=self.clock())
        if record is None:
            return None
        try:
            return answer_from_record(record)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("stored answer %s is unreadable (%s); asking the user to ask again", key, exc)
            return None

    def purge(self) -> int:
        """Delete expired records (answers and any other kind); returns how many."""
        return self.records.purge(self.clock())
