"""Which language the bot speaks in each chat: a /language choice, the configuration, the user's Telegram language.

Usage::

    languages = ChatLanguages(catalogs, KeyValue(db), group_language="auto", post_language="en")
    tr = languages.for_message(chat_id, private=True, user_code="es-419")   # blocking: Spanish
    tr = languages.for_post(chat_id)            # digests and other scheduled posts
    languages.choose(chat_id, "ru")             # what /language ru stores (None: back to the default)
    tr = await translator_for(update, context)  # in a handler

The rule (``choose_language``): a language chosen for the chat with /language wins;
otherwise a private chat follows the user's ``language_code``, and a group or channel
``[bot] group_language``, where "auto" follows the ``language_code`` of the user the
reply is for.  Scheduled posts (digests, the admins' weekly report) have no such user:
they use the chat's /language choice, else a fixed ``group_language`` (groups and
channels), else ``[digest] language``.  A language without a catalog falls back to
English.  Choices live in the state database (``KeyValue``, namespace ``language``),
so every replica and every restart sees them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from bot.i18n import AUTO, ENGLISH, SOURCE, Catalogs, Choice, Translator, choose_language
from bot.state import KeyValue

log = logging.getLogger(__name__)

NAMESPACE = "language"


class ChatLanguages:
    """The language of each chat; blocking methods (the state database), call through ``asyncio.to_thread``."""

    def __init__(self, catalogs: Catalogs, kv: KeyValue | None, *, group_language: str = AUTO, post_language: str = SOURCE):
        self.catalogs = catalogs
        self.kv = kv
        self.group_language = group_language
        self.post_language = post_language

    def chosen(self, chat_id: int | str) -> str | None:
        """The language set for ``chat_id`` with /language, if any (a failed read counts as none)."""
        if self.kv is None:
            return None
        try:
            value = self.kv.get(NAMESPACE, str(chat_id), now=datetime.now(timezone.utc))
        except Exception as exc:  # the state database is down: speak the default rather than fail the reply
            log.error("could not read chat %s's language (%s); using the default", chat_id, exc)
            return None
        return value if isinstance(value, str) and value in self.catalogs else None

    def choose(self, chat_id: int | str, language: str | None) -> None:
        """Store ``language`` for ``chat_id``; None clears the choice (back to the configured default)."""
        if self.kv is None:
            return
        if language is None:
            self.kv.delete(NAMESPACE, str(chat_id))
        else:
            self.kv.put(NAMESPACE, str(chat_id), language)

    def explain(self, chat_id: int | str | None, *, private: bool, user_code: str | None) -> Choice:
        """The language of a reply in ``chat_id`` to a user whose Telegram language is ``user_code``, and why."""
        chosen = self.chosen(chat_id) if chat_id is not None else None
        return choose_language(
            self.catalogs, chosen=chosen, private=private, user_code=user_code, group_language=self.group_language
        )

    def for_message(self, chat_id: int | str | None, *, private: bool, user_code: str | None) -> Translator:
        """The translator for a reply in ``chat_id`` to a user whose Telegram language is ``user_code``."""
        return self.catalogs.translator(self.explain(chat_id, private=private, user_code=user_code).language)

    def for_post(self, chat_id: int | str) -> Translator:
        """The translator for a scheduled post in ``chat_id`` (a numeric id or an @channel username)."""
        chosen = self.chosen(chat_id)
        if chosen:
            return self.catalogs.translator(chosen)
        private = (isinstance(chat_id, int) and chat_id > 0) or (isinstance(chat_id, str) and chat_id.isdigit())
        if not private and self.group_language != AUTO and self.group_language in self.catalogs:
            return self.catalogs.translator(self.group_language)
        return self.catalogs.translator(self.post_language)


async def translator_for(update, context) -> Translator:
    """The translator for replies to ``update`` (English before the bot has finished starting)."""
    languages: ChatLanguages | None = context.bot_data.get("languages")
    if languages is None:
        return ENGLISH
    chat = update.effective_chat
    user = update.effective_user
    return await asyncio.to_thread(
        languages.for_message,
        chat.id if chat else None,
        private=chat is not None and chat.type == "private",
        user_code=user.language_code if user else None,
    )
