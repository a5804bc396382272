"""The question log and the votes on answers, kept in the bot's state database.

Usage::

    store = FeedbackStore(db, config.privacy)                  # db: bot.state.StateDB
    answer_id = store.log_question(chat=-100123, chat_type="supergroup",
                                   question="Who chaired it?", answer=answer, now=now)
    store.vote(answer_id, chat=-100123, user=7, helpful=True, now=now)   # -> Vote.RECORDED
    store.purge(now)                                            # the daily retention job

    feedback = Feedback(store, KeyValue(db), clock, config)     # what handlers use (bot_data["feedback"])
    answer_id = await feedback.log(chat=..., chat_type=..., question=..., answer=answer)  # None on failure

Only questions addressed to the bot reach ``log_question``.  Chat and user ids are
never stored: a chat is kept as a salted hash (enough to refuse a vote pressed in
another chat) and a voter as another one (enough to count one vote per person and
answer).  The salt is made once, at random, and kept in the same database, so every
bot process sharing it computes the same hashes; it is never logged.  With
``log_questions = false`` a row keeps no text and no document, only what vote
buttons and counts need (time, chat type, answered or not, confidence).

The SQL is the portable subset ``bot.state`` asks for (SQLite and PostgreSQL).  Every
method is blocking and short: call it through ``asyncio.to_thread`` from handlers.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from bot.state import KeyValue, StateDB, iso, parse_iso
from core.config import Config, PrivacyConfig
from retrieval.retriever import Answer

log = logging.getLogger(__name__)

# Longest question and vote reason kept, in characters (Telegram allows 4096 per message).
QUESTION_CHARS = 1000
REASON_CHARS = 300

SCHEMA = """
CREATE TABLE IF NOT EXISTS question_log (
    {id},
    asked_at TEXT NOT NULL,
    chat_hash TEXT NOT NULL,
    chat_type TEXT NOT NULL,
    question TEXT,
    answered INTEGER NOT NULL,
    confidence DOUBLE PRECISION NOT NULL,
    doc TEXT,
    title TEXT,
    paragraph BIGINT,
    page BIGINT,
    answer TEXT
);
CREATE INDEX IF NOT EXISTS question_log_asked ON question_log (asked_at);
CREATE TABLE IF NOT EXISTS answer_votes (
    question_id BIGINT NOT NULL,
    voter TEXT NOT NULL,
    helpful INTEGER NOT NULL,
    voted_at TEXT NOT NULL,
    reason TEXT,
    PRIMARY KEY (question_id, voter)
);
CREATE TABLE IF NOT EXISTS feedback_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class Vote(enum.Enum):
    """What became of a press on a vote button."""

    RECORDED = "recorded"  # a first vote by this person on this answer
    CHANGED = "changed"  # they had voted the other way
    UNCHANGED = "unchanged"  # the same vote again: counted once
    UNKNOWN = "unknown"  # no such answer (forged, or deleted by retention)
    OTHER_CHAT = "other_chat"  # the answer was given in another chat


@dataclass(frozen=True)
class LoggedQuestion:
    """One row of the question log, as the export and tests read it."""

    id: int
    asked_at: datetime
    chat_type: str
    question: str | None
    answered: bool
    confidence: float
    doc: str | None
    paragraph: int | None
    answer: str | None


class FeedbackStore:
    """The question log and votes; one per application (``bot_data["feedback"]``)."""

    def __init__(self, db: StateDB, privacy: PrivacyConfig):
        self.db = db
        self.privacy = privacy
        db.ensure(SCHEMA)
        self._salt = self._salt_once()

    def _salt_once(self) -> bytes:
        # Insert-if-absent, then read back: concurrent first starts agree on one salt.
        self.db.run(
            "INSERT INTO feedback_meta (name, value) VALUES ('salt', ?) ON CONFLICT (name) DO NOTHING",
            (secrets.token_hex(32),),
        )
        return bytes.fromhex(self.db.run("SELECT value FROM feedback_meta WHERE name = 'salt'")[0][0])

    def hash(self, kind: str, number: int) -> str:
        """A salted hash of a Telegram id; ``kind`` ("chat", "user") keeps the two apart."""
        return hmac.new(self._salt, f"{kind}:{number}".encode(), hashlib.sha256).hexdigest()[:32]

    # ------------------------------------------------------------ writing

    def log_question(self, *, chat: int, chat_type: str, question: str, answer: Answer, now: datetime) -> int:
        """Log one question addressed to the bot and how it was answered; returns the answer id for votes."""
        keep = self.privacy.log_questions
        cited = answer.sentence if answer.answered else None
        rows = self.db.run(
            "INSERT INTO question_log (asked_at, chat_hash, chat_type, question, answered, confidence, "
            "doc, title, paragraph, page, answer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                iso(now),
                self.hash("chat", chat),
                str(chat_type),  # PTB's ChatType is a str enum; its text ("supergroup") is what is kept
                " ".join(question.split())[:QUESTION_CHARS] if keep else None,
                int(answer.answered),
                float(answer.confidence),
                cited.doc if keep and cited else None,
                cited.title if keep and cited else None,
                cited.paragraph if keep and cited else None,
                cited.page if keep and cited else None,
                cited.text if keep and cited else None,
            ),
        )
        return int(rows[0][0])

    def vote(self, answer_id: int, *, chat: int, user: int, helpful: bool, now: datetime) -> Vote:
        """Count ``user``'s vote on an answer given in ``chat``: one per person and answer, changeable."""
        with self.db.transaction() as tx:
            row = tx.run("SELECT chat_hash FROM question_log WHERE id = ?", (answer_id,))
            if not row:
                return Vote.UNKNOWN
            if not hmac.compare_digest(row[0][0], self.hash("chat", chat)):
                return Vote.OTHER_CHAT
            voter = self.hash("user", user)
            old = tx.run("SELECT helpful FROM answer_votes WHERE question_id = ? AND voter = ?", (answer_id, voter))
            if old and bool(old[0][0]) == helpful:
                return Vote.UNCHANGED
            tx.run(
                "INSERT INTO answer_votes (question_id, voter, helpful, voted_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (question_id, voter) DO UPDATE SET helpful = excluded.helpful, "
                "voted_at = excluded.voted_at, reason = NULL",
                (answer_id, voter, int(helpful), iso(now)),
            )
            return Vote.CHANGED if old else Vote.RECORDED

    def add_reason(self, answer_id: int, *, user: int, reason: str) -> bool:
        """Attach a short reason to ``user``'s "not helpful" vote; False if there is none (or text is not kept)."""
        if not self.privacy.log_questions:
            return False
        rows = self.db.run(
            "UPDATE answer_votes SET reason = ? WHERE question_id = ? AND voter = ? AND helpful = 0 RETURNING voter",
            (" ".join(reason.split())[:REASON_CHARS], answer_id, self.hash("user", user)),
        )
        return bool(rows)

    def purge(self, now: datetime) -> int:
        """Delete question-log rows older than ``retention_days``, with their votes; returns rows deleted."""
        cutoff = iso(now - timedelta(days=self.privacy.retention_days))
        with self.db.transaction() as tx:
            tx.run(
                "DELETE FROM answer_votes WHERE question_id IN (SELECT id FROM question_log WHERE asked_at < ?)",
                (cutoff,),
            )
            return len(tx.run("DELETE FROM question_log WHERE asked_at < ? RETURNING id", (cutoff,)))

    def claim(
        self, job: str, due: Callable[[datetime | None], datetime | None]
    ) -> tuple[datetime | None, datetime] | None:
        """Run-once bookkeeping for periodic jobs shared by several bot processes.

        ``due(last)`` gets the mark ``job`` last recorded (None the first time) and returns
        the new mark if the job is due now, else None.  The new mark is stored with a
        compare-and-set, so when several processes tick at once exactly one of them gets
        ``(last, new mark)`` back; the others, and a job not due, get None.
        """
        rows = self.db.run("SELECT value FROM feedback_meta WHERE name = ?", (f"job:{job}",))
        last = rows[0][0] if rows else None
        mark = due(parse_iso(last))
        if mark is None:
            return None
        if last is None:
            won = self.db.run(
                "INSERT INTO feedback_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING RETURNING name",
                (f"job:{job}", iso(mark)),
            )
        else:
            won = self.db.run(
                "UPDATE feedback_meta SET value = ? WHERE name = ? AND value = ? RETURNING name",
                (iso(mark), f"job:{job}", last),
            )
        return (parse_iso(last), mark) if won else None

    # ------------------------------------------------------------ reading

    def questions(self, since: datetime | None = None) -> list[LoggedQuestion]:
        """Logged questions asked at or after ``since`` (all if None), oldest first."""
        rows = self.db.run(
            "SELECT id, asked_at, chat_type, question, answered, confidence, doc, paragraph, answer "
            "FROM question_log WHERE asked_at >= ? ORDER BY asked_at, id",
            (iso(since) if since else "",),
        )
        return [
            LoggedQuestion(int(r[0]), parse_iso(r[1]), r[2], r[3], bool(r[4]), float(r[5]), r[6], r[7], r[8])
            for r in rows
        ]

    def votes(self, answer_id: int) -> tuple[int, int]:
        """(helpful, not helpful) votes on one answer."""
        rows = self.db.run(
            "SELECT COALESCE(SUM(helpful), 0), COALESCE(SUM(1 - helpful), 0) FROM answer_votes WHERE question_id = ?",
            (answer_id,),
        )
        return int(rows[0][0]), int(rows[0][1])


@dataclass
class Feedback:
    """The question log as the handlers use it, with the clock and the pending "why not helpful?" prompts."""

    store: FeedbackStore
    pending: KeyValue  # reason prompts awaiting a reply, by "<chat hash>:<prompt message id>"
    clock: Callable[[], datetime]
    config: Config

    async def log(self, *, chat: int, chat_type: str, question: str, answer: Answer) -> int | None:
        """Log the question in a worker thread; its answer id, or None if the log could not be written.

        Any failure (a full disk, a locked or unreachable database) is logged and swallowed:
        the question log must never cost a reader the answer.
        """
        try:
            return await asyncio.to_thread(
                self.store.log_question, chat=chat, chat_type=chat_type, question=question, answer=answer, now=self.clock()
            )
        except Exception as exc:  # deliberately broad: see the docstring
            log.error("could not write the question log (%s); answering without vote buttons", exc)
            return None
