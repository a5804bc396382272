"""Update handlers: parse, run the blocking work in a thread, render, reply.

Each handler is named after what it answers (``start``, ``help_command``, ``ask``,
``sources``, ``reindex``, ``language``, ``private_message``, ``group_message``,
``more_extracts``, ``full_paragraph``, ``unknown_command``, ``error``) and the jobs after
what they do (``digest_tick``, ``index_watch``, ``purge_state``).  Retrieval, index builds
and state database calls run through ``asyncio.to_thread`` so no chat waits for another
one's question.  Every reply is rendered in the chat's language (``translator_for``,
see ``bot.languages``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import threading
from typing import Awaitable, Callable, Sequence, TypeVar

from telegram import ChatMember, InlineKeyboardMarkup, Message, MessageEntity, Update
from telegram.constants import ChatAction, ChatMemberStatus, ChatType
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.ext import ContextTypes, filters

from bot import digest, feedback_render, render
from bot.digest_job import DigestPoster
from bot.lease import Lease
from bot.followups import Conversation, FollowUps
from bot.i18n import ENGLISH, Translator
from bot.languages import AUTO, ChatLanguages, translator_for
from bot.services import CachedAnswer, Services
from index.build import BuildReport
from core.errors import DocQAError
from core.text import words

log = logging.getLogger(__name__)

T = TypeVar("T")

# Attempts for a reply when the Bot API fails transiently (5xx, network); 429s are retried
# by the AIORateLimiter first.
SEND_ATTEMPTS = 4
RETRY_DELAY = 0.5  # seconds, doubled after each failed attempt
# Telegram shows "typing" for about 5 seconds; refresh it while an answer takes longer.
TYPING_EVERY = 4.0
# Seconds between edits of the /reindex status message (Telegram throttles edits).
PROGRESS_EVERY = 3.0


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.bot_data["services"]


# ------------------------------------------------------------------ sending


async def _retrying(call: Callable[[], Awaitable[T]], what: str) -> T:
    """``call()``, retried on transient Bot API failures so a reply is not lost to one 500."""
    delay = RETRY_DELAY
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            return await call()
        except BadRequest:
            raise  # our request is wrong: sending it again cannot help
        except RetryAfter as exc:  # the rate limiter already retried; wait as told and go on
            if attempt == SEND_ATTEMPTS:
                raise
            wait = exc.retry_after  # int seconds in PTB 22 by default, a timedelta with PTB_TIMEDELTA=1
            seconds = wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)
            log.warning("%s: flood control, retrying in %.0fs", what, seconds)
            await asyncio.sleep(seconds)
        except NetworkError as exc:  # 5xx, connection errors, timeouts
            # A timed-out send may in fact have arrived; a rare duplicate beats a lost answer.
            if attempt == SEND_ATTEMPTS:
                raise
            log.warning("%s failed (%s); retry %d of %d in %.1fs", what, exc, attempt, SEND_ATTEMPTS - 1, delay)
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


async def send(
    message: Message,
    texts: Sequence[str],
    *,
    quote: bool,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> list[Message]:
    """Send ``texts`` (HTML, each within the limit) in ``message``'s chat; buttons go on the last one.

    If Telegram refuses the HTML ("can't parse entities"), the same text goes out as plain
    text rather than being lost.
    """
    sent = []
    for i, text in enumerate(texts):
        markup = reply_markup if i == len(texts) - 1 else None

        async def html_reply(text=text, markup=markup):
            return await message.reply_text(text, do_quote=quote, reply_markup=markup)

        async def plain_reply(text=text, markup=markup):
            return await message.reply_text(render.plain(text), parse_mode=None, do_quote=quote, reply_markup=markup)

        try:
            sent.append(await _retrying(html_reply, "sendMessage"))
        except BadRequest as exc:
            if "parse entities" not in str(exc).lower():
                raise
            log.error("Telegram rejected our HTML (%s); sending plain text instead", exc)
            sent.append(await _retrying(plain_reply, "sendMessage (plain)"))
    return sent


async def edit(message: Message, text: str) -> None:
    """Edit a status message; "not modified" and a refused edit are logged, not raised."""
    try:
        await _retrying(lambda: message.edit_text(text), "editMessageText")
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            log.warning("could not edit status message: %s", exc)
    except TelegramError as exc:
        log.warning("could not edit status message: %s", exc)


@contextlib.asynccontextmanager
async def typing(message: Message):
    """Show "typing…" in the chat until the block ends; a failure to show it changes nothing."""

    async def show():
        try:
            await message.reply_chat_action(ChatAction.TYPING)
        except TelegramError as exc:
            log.debug("sendChatAction failed: %s", exc)

    async def refresh():
        while True:
            await asyncio.sleep(TYPING_EVERY)
            await show()

    # The first indicator runs alongside the work; it is awaited (never cancelled midway)
    # so it cannot arrive after the answer.
    first = asyncio.create_task(show())
    again = asyncio.create_task(refresh())
    try:
        yield
    finally:
        again.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await again
        await first


def _private(message: Message) -> bool:
    return message.chat.type == ChatType.PRIVATE


# ------------------------------------------------------------------ questions


async def _best_effort(what: str, call: Callable[[], T]) -> T | None:
    """``call()`` in a worker thread; a failure (full disk, database down) is logged and gives None.

    The state database remembers what buttons and follow-ups need; losing that must never
    cost a reader the answer itself.
    """
    try:
        return await asyncio.to_thread(call)
    except Exception as exc:  # deliberately broad: see the docstring
        log.error("could not %s (%s); answering without it", what, exc)
        return None


async def _answer(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str) -> None:
    message = update.effective_message
    services = services_of(context)
    tr = await translator_for(update, context)
    if not words(question):
        await send(message, [render.ask_usage(tr=tr)], quote=not _private(message))
        return
    follow_ups: FollowUps = context.bot_data["follow_ups"]
    chat = Conversation.of(message)
    async with typing(message):
        previous = await _best_effort("read the previous turn", lambda: follow_ups.previous(chat))
        answer = await asyncio.to_thread(services.answer, question, previous)
    answered_at = follow_ups.clock()
    answer_id = await context.bot_data["feedback"].log(
        chat=message.chat_id, chat_type=message.chat.type, question=question, answer=answer
    )
    key = await _best_effort("store the answer for its buttons", lambda: services.answers.add(CachedAnswer(answer, services.page_size)))
    texts = render.answer_page(answer, 0, services.page_size, tr=tr)
    markup = render.answer_keyboard(key, answer, 0, services.page_size, tr=tr) if key else None
    markup = feedback_render.with_votes(markup, answer_id, tr=tr)  # helpful / not helpful, under the first page
    # The private chat's last turn is stored before the answer goes out: the reader's next
    # message may arrive the moment they see it.
    await _best_effort("remember the turn for follow-ups", lambda: follow_ups.remember_last(chat, answer.turn, answered_at))
    sent = await send(message, texts, quote=not _private(message), reply_markup=markup)
    await _best_effort(
        "remember the answer for replies",
        lambda: follow_ups.remember_answer(chat, [m.message_id for m in sent], answer.turn, answered_at),
    )


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ask <question>: answer it (the way to ask in groups)."""
    await _answer(update, context, " ".join(context.args or []))


async def private_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any text in a private chat is a question."""
    await _answer(update, context, update.effective_message.text)


async def group_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A group message that mentions the bot or replies to it: the rest of the text is the question."""
    await _answer(update, context, strip_mention(update.effective_message.text, context.bot.username))


def strip_mention(text: str, username: str | None) -> str:
    if not username:
        return text
    return re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE).strip()


class AddressedToBot(filters.MessageFilter):
    """Group messages meant for the bot: they mention it or reply to one of its messages."""

    def filter(self, message: Message) -> bool:
        bot = message.get_bot()
        replied = message.reply_to_message
        if replied and replied.from_user and replied.from_user.id == bot.id:
            return True
        username = (bot.username or "").lower()
        for entity, text in message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
            if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id:
                return True
            if entity.type == MessageEntity.MENTION and username and text.lower() == f"@{username}":
                return True
        return False


# ------------------------------------------------------------------ buttons


def _parse_callback(data: str | None) -> tuple[str, int] | None:
    try:
        _, key, number = (data or "").split(":")
        return key, int(number)
    except ValueError:
        return None


async def more_extracts(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """"More extracts": the next page of the answer's extracts."""
    query = update.callback_query
    services = services_of(context)
    parsed = _parse_callback(query.data)
    cached = await asyncio.to_thread(services.answers.get, parsed[0]) if parsed else None
    tr = await translator_for(update, context)
    if cached is None or not isinstance(query.message, Message):
        await query.answer(render.answer_forgotten(tr=tr), show_alert=True)
        return
    key, page = parsed
    await query.answer()
    texts = render.answer_page(cached.answer, page, cached.page_size, tr=tr)
    markup = render.answer_keyboard(key, cached.answer, page, cached.page_size, tr=tr)
    await send(query.message, texts, quote=not _private(query.message), reply_markup=markup)


async def full_paragraph(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """"Full paragraph": the whole paragraph an extract comes from."""
    query = update.callback_query
    services = services_of(context)
    parsed = _parse_callback(query.data)
    cached = await asyncio.to_thread(services.answers.get, parsed[0]) if parsed else None
    tr = await translator_for(update, context)
    if cached is None or not isinstance(query.message, Message) or not 0 <= parsed[1] < len(cached.answer.extracts):
        await query.answer(render.answer_forgotten(tr=tr), show_alert=True)
        return
    extract = cached.answer.extracts[parsed[1]]
    paragraph = await asyncio.to_thread(services.paragraph, extract)
    start = " ".join(extract.text.split())[:60]
    if paragraph is None or start not in " ".join(paragraph.text.split()):
        # The document changed (or left) in a reindex since this answer was given.
        await query.answer(render.document_changed(tr=tr), show_alert=True)
        return
    await query.answer()
    await send(query.message, render.paragraph_messages(parsed[1] + 1, paragraph, tr=tr), quote=True)


# ------------------------------------------------------------------ commands


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: what the bot knows and how to ask; ``/start doc_…`` (a digest's deep link) shows that document."""
    message = update.effective_message
    services = services_of(context)
    payload = context.args[0] if context.args else ""
    tr = await translator_for(update, context)
    if payload.startswith(digest.PAYLOAD_PREFIX):
        await _document_intro(message, services, payload, tr)
        return
    count = services.document_count()
    await send(message, [render.start_text(count, context.bot.username, tr=tr)], quote=not _private(message))


async def _document_intro(message: Message, services: Services, payload: str, tr: Translator) -> None:
    documents = [doc for doc, _ in await asyncio.to_thread(services.documents)]
    doc = digest.find_document(payload, documents)
    summary = await asyncio.to_thread(services.document_summary, doc, services.config.digest.sentences) if doc else None
    if summary is None:
        await send(message, [render.unknown_document_link(tr=tr)], quote=False)
        return
    title, sentences = summary
    source = (await asyncio.to_thread(services.document_sources)).get(doc)
    await send(message, [digest.render_document_intro(title, doc, sentences, source, tr=tr)], quote=False)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: how to ask, and the commands."""
    message = update.effective_message
    tr = await translator_for(update, context)
    await send(message, [render.help_text(context.bot.username, tr=tr)], quote=not _private(message))


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/sources: the indexed documents with their titles."""
    message = update.effective_message
    services = services_of(context)
    documents = await asyncio.to_thread(services.documents)
    links = await asyncio.to_thread(services.document_sources)
    tr = await translator_for(update, context)
    await send(message, render.sources_messages(documents, links, tr=tr), quote=not _private(message))


class BuildProgress:
    """Latest (done, total) reported by a build thread, read by the event loop."""

    def __init__(self):
        self._lock = threading.Lock()
        self._value = (0, 0)

    def update(self, done: int, total: int) -> None:
        with self._lock:
            self._value = (done, total)

    @property
    def value(self) -> tuple[int, int]:
        with self._lock:
            return self._value


async def reindex(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reindex (admins only): rebuild the index in a thread, then swap it in."""
    message = update.effective_message
    user = update.effective_user
    services = services_of(context)
    quote = not _private(message)
    tr = await translator_for(update, context)
    if user is None or user.id not in services.admins:
        log.warning("refused /reindex from user id %s: not in [bot] admins", user.id if user else "unknown")
        await send(message, [render.refusal("reindex", tr=tr)], quote=quote)
        return
    if services.reindex_lock.locked():
        await send(message, [render.reindex_busy(tr=tr)], quote=quote)
        return
    lease = reindex_lease_of(context)
    async with services.reindex_lock:
        # One reindex across all replicas: the one holding the lease builds, the others say so.
        if not await asyncio.to_thread(lease.acquire):
            holder = await asyncio.to_thread(lease.holder_now)
            log.info("/reindex from admin user id %s not started: replica %s is reindexing", user.id, holder)
            await send(message, [render.reindex_busy(elsewhere=True, tr=tr)], quote=quote)
            return
        try:
            await _rebuild(message, services, lease, user.id, quote, tr)
        finally:
            await asyncio.to_thread(lease.release)


async def _rebuild(message: Message, services: Services, lease: Lease, admin: int, quote: bool, tr: Translator) -> None:
    log.info("reindex started by admin user id %s", admin)
    shown = render.reindex_progress(0, 0, tr=tr)
    status = (await send(message, [shown], quote=quote))[0]
    progress = BuildProgress()
    build = asyncio.to_thread(services.rebuild, progress.update)
    report = await await_build(
        status, build, lambda: render.reindex_progress(*progress.value, tr=tr), shown, tick=lambda: renew_lease(lease), tr=tr
    )
    if report is not None:
        await edit(status, render.reindex_done(report, tr=tr))


async def renew_lease(lease: Lease) -> None:
    """Renew the reindex lease while a build runs (so no other replica starts one)."""
    if not await asyncio.to_thread(lease.acquire):
        log.warning("the reindex lease was taken over by %s during the build", await asyncio.to_thread(lease.holder_now))


async def await_build(
    status: Message,
    build: Awaitable[BuildReport],
    describe: Callable[[], str],
    shown: str,
    *,
    tick: Callable[[], Awaitable[None]] | None = None,
    tr: Translator = ENGLISH,
) -> BuildReport | None:
    """Wait for ``build``, editing ``status`` with ``describe()`` as it changes; on failure say so there (in ``tr``'s language).

    ``tick`` runs every ``PROGRESS_EVERY`` seconds meanwhile (e.g. renewing a lease).
    Returns the report, or None when the build failed (the previous index keeps serving).
    """
    task = asyncio.ensure_future(build)
    while not (await asyncio.wait({task}, timeout=PROGRESS_EVERY))[0]:
        if tick is not None:
            await tick()
        text = describe()
        if text != shown:
            await edit(status, text)
            shown = text
    try:
        report = task.result()
    except DocQAError as exc:
        log.warning("reindex failed, the previous index keeps serving: %s", exc)
        await edit(status, render.reindex_failed(exc, tr=tr))
        return None
    except Exception as exc:
        log.error("reindex failed, the previous index keeps serving", exc_info=exc)
        await edit(status, render.reindex_failed(RuntimeError("unexpected error; details are in the log"), tr=tr))
        return None
    log.info("reindex done: %d documents, %d passages in %.1fs", report.documents, report.passages, report.seconds)
    return report


def reindex_lease_of(context: ContextTypes.DEFAULT_TYPE) -> Lease:
    return context.bot_data["reindex_lease"]


async def index_watch(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Job: serve the index version another replica (or ``python -m index build``) just made current."""
    swapped = await asyncio.to_thread(services_of(context).refresh)
    if swapped is not None:
        log.info("now serving index version %s (built by another process)", swapped)


async def purge_state(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Job: delete expired records (answers behind old buttons, and the like) from the state database."""
    deleted = await asyncio.to_thread(services_of(context).answers.purge)
    if deleted:
        log.info("purged %d expired record(s) from the state database", deleted)


# ------------------------------------------------------------------ digests


def poster_of(context: ContextTypes.DEFAULT_TYPE) -> DigestPoster:
    return context.bot_data["digest"]


async def digest_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """JobQueue callback: post the scheduled digests that are due, if this replica holds the digest lease."""
    lease: Lease = context.bot_data["digest_lease"]
    if not await asyncio.to_thread(lease.acquire):  # another replica posts the digests
        return
    await poster_of(context).tick(context.bot)


async def digest_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/digest (admins only): post this chat's digest now."""
    message = update.effective_message
    user = update.effective_user
    if user is None or user.id not in services_of(context).admins:
        log.warning("refused /digest from user id %s in chat %s: not in [bot] admins", user.id if user else "unknown", message.chat_id)
        tr = await translator_for(update, context)
        await send(message, [render.refusal("digest", tr=tr)], quote=not _private(message))
        return
    outcome = await poster_of(context).post_now(context.bot, str(message.chat_id))
    if outcome is None:
        tr = await translator_for(update, context)
        await send(message, [render.error_text(RuntimeError("digest could not be sent"), tr=tr)], quote=not _private(message))


async def _administers(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """The sender is a configured admin, or an administrator (or the owner) of this chat."""
    message = update.effective_message
    user = update.effective_user
    if user is None:
        return False
    if user.id in services_of(context).admins:
        return True
    try:
        member = await context.bot.get_chat_member(message.chat_id, user.id)
    except TelegramError as exc:
        log.warning("could not check whether user id %s administers chat %s: %s", user.id, message.chat_id, exc)
        return False
    return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


async def _may_manage_digests(update: Update, context: ContextTypes.DEFAULT_TYPE, command: str, tr: Translator) -> bool:
    """A configured admin, or an administrator of this group; refuses (and logs) anyone else."""
    message = update.effective_message
    user = update.effective_user
    if _private(message):
        await send(message, [render.groups_only(command, tr=tr)], quote=False)
        return False
    if await _administers(update, context):
        return True
    log.warning("refused /%s from user id %s in chat %s: not an admin", command, user.id if user else "unknown", message.chat_id)
    await send(message, [render.chat_admins_only(command, tr=tr)], quote=True)
    return False


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/subscribe (group admins): post digests in this chat."""
    tr = await translator_for(update, context)
    if not await _may_manage_digests(update, context, "subscribe", tr):
        return
    message = update.effective_message
    poster = poster_of(context)
    changed = poster.store.subscribe(str(message.chat_id), by=f"user:{update.effective_user.id}", now=poster.clock())
    log.info("chat %s subscribed to digests by user id %s", message.chat_id, update.effective_user.id)
    await send(message, [render.subscribed(changed, tr=tr)], quote=True)


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unsubscribe (group admins): stop digests in this chat."""
    tr = await translator_for(update, context)
    if not await _may_manage_digests(update, context, "unsubscribe", tr):
        return
    message = update.effective_message
    changed = poster_of(context).store.unsubscribe(str(message.chat_id), by=f"user:{update.effective_user.id}")
    log.info("chat %s unsubscribed from digests by user id %s", message.chat_id, update.effective_user.id)
    await send(message, [render.unsubscribed(changed, tr=tr)], quote=True)


async def language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/language [code | auto]: say which language the bot speaks in this chat, or choose it (groups: their admins)."""
    message = update.effective_message
    user = update.effective_user
    languages: ChatLanguages = context.bot_data["languages"]
    private = _private(message)
    user_code = user.language_code if user else None
    tr = await translator_for(update, context)
    wanted = (context.args[0] if context.args else "").strip()
    if not wanted:
        choice = await asyncio.to_thread(languages.explain, message.chat_id, private=private, user_code=user_code)
        await send(message, [render.language_status(choice, languages.catalogs, private=private, tr=tr)], quote=not private)
        return
    if not private and not await _administers(update, context):
        log.warning("refused /language from user id %s in chat %s: not an admin", user.id if user else "unknown", message.chat_id)
        await send(message, [render.chat_admins_only("language", tr=tr)], quote=True)
        return
    chosen = None if wanted.lower() == AUTO else languages.catalogs.negotiate(wanted)
    if chosen is None and wanted.lower() != AUTO:
        await send(message, [render.language_unknown(wanted, languages.catalogs, tr=tr)], quote=not private)
        return
    await asyncio.to_thread(languages.choose, message.chat_id, chosen)
    log.info("chat %s language set to %s by user id %s", message.chat_id, chosen or AUTO, user.id if user else "unknown")
    choice = await asyncio.to_thread(languages.explain, message.chat_id, private=private, user_code=user_code)
    tr = languages.catalogs.translator(choice.language)  # the confirmation already in the new language
    await send(message, [render.language_changed(choice, languages.catalogs, private=private, tr=tr)], quote=not private)


async def membership(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The bot was removed from a chat: stop its digests."""
    change = update.my_chat_member
    if change and change.new_chat_member.status in (ChatMember.LEFT, ChatMember.BANNED):
        if poster_of(context).store.unsubscribe(str(change.chat.id), by="bot-removed"):
            log.warning("removed from chat %s: unsubscribed it from digests", change.chat.id)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command the bot does not have, in a private chat: point to /help."""
    tr = await translator_for(update, context)
    await send(update.effective_message, [render.unknown_command(tr=tr)], quote=False)


# ------------------------------------------------------------------ errors


async def error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error (with traceback unless it is a domain error) and tell the user briefly."""
    exc = context.error
    if isinstance(exc, DocQAError):
        log.warning("could not answer: %s", exc)
    else:
        log.error("error while handling an update", exc_info=exc)
    if not isinstance(update, Update):
        return
    message = update.effective_message
    if update.callback_query:
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer()
    if isinstance(message, Message):
        try:
            tr = await translator_for(update, context)
            await send(message, [render.error_text(exc, tr=tr)], quote=not _private(message))
        except TelegramError as send_error:
            log.warning("could not tell the user about the error: %s", send_error)
