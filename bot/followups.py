"""Which earlier answer a message may follow up on, kept in the bot's state store.

Usage::

    follow_ups = FollowUps(KeyValue(db), window=timedelta(minutes=10), clock=utc_now)
    chat = Conversation.of(message)                       # chat, the bot answer it replies to, private?
    turn = follow_ups.previous(chat)                      # the Turn it may follow up on, or None
    follow_ups.remember_last(chat, answer.turn)                   # before the answer goes out
    follow_ups.remember_answer(chat, [m.message_id for m in sent], answer.turn)

In Telegram a conversation is a reply chain: a message that replies to one of the
bot's answers (in any chat) may follow up on that answer.  In a private chat a
message sent within ``[retrieval] follow_up_minutes`` of the last answer may also
follow up on it.  Whether it does is retrieval's decision (``retrieval.followup``).

Turns live in ``KeyValue`` records with an expiry, never in process memory, so a
restart keeps them and several bot processes answering one bot share them:
``followup.chat`` holds the last turn per private chat (expires after the window),
``followup.answer`` the turn of each message the bot answered with (kept
``REPLY_DAYS``, for replies to older answers).  Blocking: call through
``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Sequence

from bot.state import KeyValue
from retrieval.followup import Turn

log = logging.getLogger(__name__)

CHAT = "followup.chat"
ANSWER = "followup.answer"
# How long a reply to an answer still follows up on it: replying is explicit, so longer
# than the private window, but not forever (the records are small, not free).
REPLY_DAYS = 7
# Expired records are deleted at most this often (by whichever process writes next).
PURGE_EVERY = timedelta(minutes=30)


@dataclass(frozen=True)
class Conversation:
    """Where a message was sent: its chat, the bot message it replies to (if any), and whether the chat is private."""

    chat_id: int
    replied_to: int | None = None  # message id of the bot's message it replies to
    private: bool = False

    @classmethod
    def of(cls, message) -> "Conversation":
        """The conversation of a PTB ``Message``."""
        replied = message.reply_to_message
        bot_id = message.get_bot().id
        to_bot = replied is not None and replied.from_user is not None and replied.from_user.id == bot_id
        return cls(message.chat_id, replied.message_id if to_bot else None, message.chat.type == "private")


class FollowUps:
    """The last turn per private chat and the turn of each bot answer, with expiry."""

    def __init__(self, kv: KeyValue, window: timedelta, clock: Callable[[], datetime]):
        self.kv = kv
        self.window = window
        self.clock = clock
        self._purged: datetime | None = None
        self._lock = threading.Lock()

    def previous(self, chat: Conversation) -> Turn | None:
        """The turn ``chat``'s message may follow up on: the answer it replies to, else (private) the recent last one."""
        now = self.clock()
        if chat.replied_to is not None:
            return Turn.from_json(self.kv.get(ANSWER, f"{chat.chat_id}:{chat.replied_to}", now=now))
        if chat.private and self.window > timedelta(0):
            return Turn.from_json(self.kv.get(CHAT, str(chat.chat_id), now=now))
        return None

    def remember_last(self, chat: Conversation, turn: Turn | None, at: datetime | None = None) -> None:
        """In a private chat, keep ``turn`` as the one a message within the window follows up on.

        Called before the answer is sent, so a reader's next message can never arrive first.
        ``at`` is when the answer was found (default: now); the window runs from then.
        """
        if turn is None or not chat.private or self.window <= timedelta(0):
            return
        now = at or self.clock()
        self.kv.put(CHAT, str(chat.chat_id), turn.to_json(), expires=now + self.window)

    def remember_answer(self, chat: Conversation, message_ids: Sequence[int], turn: Turn | None, at: datetime | None = None) -> None:
        """Keep ``turn`` for replies to ``message_ids`` (the messages of the bot's answer)."""
        if turn is None:
            return
        now = at or self.clock()
        value = turn.to_json()
        for message_id in message_ids:
            self.kv.put(ANSWER, f"{chat.chat_id}:{message_id}", value, expires=now + timedelta(days=REPLY_DAYS))
        self._purge(now)

    def _purge(self, now: datetime) -> None:
        with self._lock:
            due = self._purged is None or now - self._purged >= PURGE_EVERY
            if due:
                self._purged = now
        if due:
            removed = self.kv.purge(now)
            if removed:
                log.debug("deleted %d expired state records", removed)
