"""Post digests: the JobQueue tick, ``/digest`` on demand, and failure handling.

A repeating job ticks every ``TICK_SECONDS``.  Each tick finds, per subscribed
chat, the latest scheduled slot; if the chat has not had it yet (and was
subscribed before it) the digest is posted and the slot recorded together with
the document versions it carried.  The same rule posts a slot missed while the
bot was down exactly once at start-up, and never repeats one after a restart.

A chat that cannot be posted to for good (bot removed, chat not found) is
unsubscribed and logged; a temporary failure (flood control, network, server
error) leaves the slot unrecorded, so the next tick retries it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from contextlib import AbstractContextManager
from typing import Callable

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.digest import DigestItem, latest_slot, pending_documents, render_digest, render_nothing_new
from bot.digest_store import DigestStore
from bot.i18n import ENGLISH, Translator
from core.config import DigestConfig
from core.errors import DocQAError

log = logging.getLogger(__name__)

TICK_SECONDS = 60
Clock = Callable[[], datetime]
_PERMANENT = ("chat not found", "bot was kicked", "bot is not a member", "have no rights", "not enough rights",
              "chat_write_forbidden", "need administrator rights", "group chat was deactivated")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class DigestOutcome:
    chat: str
    posted: int  # messages sent
    documents: int
    unsubscribed: bool = False


class DigestPoster:
    """Composes and posts digests; one instance per application, kept in ``bot_data``."""

    def __init__(
        self,
        config: DigestConfig,
        store: DigestStore,
        use_retriever: Callable[[], AbstractContextManager],
        clock: Clock = utc_now,
        translator_for: Callable[[str], Translator] | None = None,
    ):
        self.config = config
        self.store = store
        # ``with use_retriever() as r`` gives the Retriever serving now, kept open during the block
        # even if /reindex swaps in a new one meanwhile.
        self._use_retriever = use_retriever
        self.clock = clock
        # The language of each chat's posts (bot.languages.ChatLanguages.for_post; blocking).
        self._translator_for = translator_for or (lambda chat: ENGLISH)
        # Key sentences per (document, content hash): one digest goes to many chats.
        self._summaries: dict[tuple[str, str], tuple] = {}
        self._lock = asyncio.Lock()  # a tick and a /digest never post the same slot twice

    async def tick(self, bot: Bot) -> list[DigestOutcome]:
        """Post every scheduled digest that is due and not yet posted."""
        outcomes = []
        async with self._lock:
            now = self.clock()
            slot = latest_slot(now, self.config.times, self.config.timezone)
            for chat in self.store.subscribers():
                last = self.store.last_slot(chat)
                since = self.store.subscribed_at(chat)
                if (last is not None and last >= slot) or (since is not None and since > slot):
                    continue
                try:
                    outcome = await self._post(bot, chat, slot=slot, say_nothing_new=self.config.when_nothing_new == "say")
                except DocQAError as exc:  # no usable index yet: nothing to digest, try again later
                    log.warning("digest for chat %s postponed: %s", chat, exc)
                    break
                if outcome:
                    outcomes.append(outcome)
        return outcomes

    async def post_now(self, bot: Bot, chat: str) -> DigestOutcome | None:
        """``/digest``: this chat's digest now; says so when nothing is new."""
        async with self._lock:
            return await self._post(bot, chat, slot=None, say_nothing_new=True)

    async def _post(self, bot: Bot, chat: str, *, slot: datetime | None, say_nothing_new: bool) -> DigestOutcome | None:
        shown, more = await asyncio.to_thread(self._plan, chat)
        tr = await asyncio.to_thread(self._translator_for, chat)
        try:
            if shown:
                messages = render_digest(shown, more, bot.username, tr=tr)
                for message in messages:
                    markup = InlineKeyboardMarkup([[InlineKeyboardButton(label, url=url)] for label, url in message.buttons])
                    await bot.send_message(_chat_id(chat), message.html, reply_markup=markup if message.buttons else None)
                sent = len(messages)
            elif say_nothing_new:
                await bot.send_message(_chat_id(chat), render_nothing_new(tr=tr))
                sent = 1
            else:
                sent = 0
        except (Forbidden, BadRequest) as exc:
            if isinstance(exc, Forbidden) or any(marker in str(exc).lower() for marker in _PERMANENT):
                self.store.unsubscribe(chat, by="delivery-failure")
                log.warning("unsubscribed digest chat %s: posting failed for good (%s)", chat, exc)
                return DigestOutcome(chat, 0, 0, unsubscribed=True)
            log.error("digest for chat %s rejected, will retry: %s", chat, exc)
            return None
        except TelegramError as exc:  # flood control, timeouts, server errors: try again next tick
            log.warning("digest for chat %s failed, will retry: %s", chat, exc)
            return None
        self.store.record(chat, slot=slot, documents={i.doc: i.sha256 for i in shown}, posted=self.clock())
        if sent:
            log.info("posted digest to %s: %d document(s) in %d message(s)", chat, len(shown), sent)
        return DigestOutcome(chat, sent, len(shown))

    def _plan(self, chat: str) -> tuple[list[DigestItem], int]:
        """(documents to show with their key sentences, how many more are pending). Blocking."""
        with self._use_retriever() as retriever:
            current = {doc: (meta["title"], meta["sha256"]) for doc, meta in retriever.index.manifest["documents"].items()}
            items = [replace(i, source=retriever.source(i.doc)) for i in pending_documents(current, self.store.carried(chat))]
            shown = self._with_sentences(retriever, items[: self.config.max_items])
        return shown, len(items) - len(shown)

    def _with_sentences(self, retriever, items: list[DigestItem]) -> list[DigestItem]:
        out = []
        for item in items:
            key = (item.doc, item.sha256)
            if key not in self._summaries:
                summary = retriever.summary(item.doc, self.config.sentences)
                self._summaries[key] = tuple(summary[1]) if summary else ()
            out.append(replace(item, sentences=self._summaries[key]))
        return out


def _chat_id(chat: str) -> int | str:
    return chat if chat.startswith("@") else int(chat)
