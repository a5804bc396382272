"""Documents through Telegram: admins' uploads and links, channel posts, ``/forget``.

Handlers (wired in ``bot.app``):

    document_message   a file in a private chat: an admin's is stored, indexed and reported;
                       anyone else's is refused, never downloaded, and logged with the user id
    media_message      a photo, video or voice message in a private chat: not a document
    link_message       a private message that is only a link: an admin's is fetched and indexed
                       (anyone else's is a question, as before)
    add_command        /add <url>
    forwarded_post     a channel post an admin forwards: indexed with the original post's link
    channel_post       posts and edits in ``[ingest] channels``: stored at once, indexed in batches
    forget             /forget <number | name | link>, or in reply to an upload, a report or a post

Downloads and the checks of what comes in live in ``index.ingest`` / ``index.fetch`` (no
Telegram there); builds go through one ``bot.build_queue.BuildQueue``, which never runs beside a
/reindex and lets requests that arrive together share one build.
"""

from __future__ import annotations

import asyncio
import logging
import re
from urllib.parse import urlsplit

from telegram import Chat, Message, MessageOriginChannel, Update
from telegram.constants import FileSizeLimit
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes, filters

from bot import handlers, ingest_render as say, render
from bot.build_queue import BuildQueue
from bot.handlers import await_build, edit, send
from bot.i18n import Translator
from bot.ingest_render import DocumentReport
from bot.languages import translator_for
from bot.lease import Lease
from bot.services import Services
from core.config import Config
from core.errors import DocQAError, IngestError
from index.fetch import fetch_url
from index.ingest import Saved, SeedInbox, document_suffix, post_doc
from index.sources import message_key

log = logging.getLogger(__name__)

PUBLIC_BOT_API = "api.telegram.org"
# Telegram's public Bot API serves downloads of at most 20 MB; a self-hosted server (--local) has no such limit.
PUBLIC_DOWNLOAD_LIMIT = int(FileSizeLimit.FILESIZE_DOWNLOAD)
DOWNLOAD_TIMEOUT = 120.0  # seconds between reads of a file download from the Bot API
URL_ONLY = re.compile(r"^\s*(https?://\S+)\s*$", re.IGNORECASE)


# ------------------------------------------------------------------ state


class Ingest:
    """What the ingestion handlers share: the seed inbox, the build queue, the settings."""

    def __init__(self, config: Config, services: Services, inbox: SeedInbox, builds: BuildQueue):
        self.config = config
        self.services = services
        self.inbox = inbox
        self.builds = builds
        self.max_bytes = inbox.max_bytes
        host = urlsplit(config.telegram.base_url).hostname or ""
        self.public_limit = PUBLIC_DOWNLOAD_LIMIT if host == PUBLIC_BOT_API else None
        self._channel_ids = {c for c in config.ingest.channels if isinstance(c, int)}
        self._channel_names = {c.lower() for c in config.ingest.channels if isinstance(c, str)}

    @classmethod
    def create(cls, config: Config, services: Services, lease: Lease | None = None) -> "Ingest":
        """``lease``: the reindex lease, so builds here never run beside another replica's /reindex."""
        inbox = SeedInbox(config.seeds.dir, config.ingest.subfolder, max_bytes=int(config.seeds.max_file_mb * 1024 * 1024))
        return cls(config, services, inbox, BuildQueue(services, lease))

    def follows(self, chat: Chat) -> bool:
        """Whether posts of ``chat`` are indexed (it is in ``[ingest] channels``)."""
        return chat.id in self._channel_ids or (bool(chat.username) and f"@{chat.username}".lower() in self._channel_names)

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.services.admins

    # Blocking helpers below: call them with ``asyncio.to_thread``.

    def indexed(self) -> dict[str, str]:
        """Document -> content hash of the index serving now (empty without one)."""
        try:
            with self.services.slot.use() as retriever:
                return {doc: meta["sha256"] for doc, meta in retriever.index.manifest["documents"].items()}
        except DocQAError:
            return {}

    def describe(self, doc: str, status: str) -> DocumentReport | None:
        """The indexed ``doc`` as the bot reports it, or None if the index does not hold it."""
        with self.services.slot.use() as retriever:
            meta = retriever.index.manifest["documents"].get(doc)
            summary = retriever.summary(doc, self.config.digest.sentences)
            if meta is None or summary is None:
                return None
            title, sentences = summary
            return DocumentReport(doc, title, int(meta.get("passages", 0)), tuple(sentences), retriever.source(doc), status)

    def title_of(self, doc: str) -> str | None:
        try:
            with self.services.slot.use() as retriever:
                return dict(retriever.documents).get(doc)
        except DocQAError:
            return None


def ingest_of(context: ContextTypes.DEFAULT_TYPE) -> Ingest:
    return context.bot_data["ingest"]


def post_link(chat: Chat, message_id: int) -> str | None:
    """The t.me link of a channel post: public channels by name, private ones by id (for their members)."""
    if chat.username:
        return f"https://t.me/{chat.username}/{message_id}"
    text = str(chat.id)
    return f"https://t.me/c/{text[4:]}/{message_id}" if text.startswith("-100") else None


def _channel_key(chat: Chat) -> str:
    # The id, not the name: a channel may change its name, and edits must find their post.
    return str(abs(chat.id))


def _stamp(message: Message, update: Update) -> tuple[int, int]:
    """Orders versions of a post: edit (or post) time, then update id for edits within one second."""
    when = message.edit_date or message.date
    return (int(when.timestamp()) if when else 0, update.update_id)


# ------------------------------------------------------------------ reporting


async def _index_and_report(status: Message, saved: Saved, ingest: Ingest, tr: Translator) -> None:
    """Build (unless nothing changed), then edit ``status`` with what became of ``saved`` (in ``tr``'s language)."""
    # /forget in reply to the report finds the document.
    await asyncio.to_thread(ingest.inbox.registry.add_messages, saved.doc, message_key(status.chat_id, status.message_id))
    if saved.status == "duplicate":
        await edit(status, say.duplicate(saved.doc, saved.title or ingest.title_of(saved.doc), tr=tr))
        return
    indexed = await asyncio.to_thread(ingest.indexed)
    if saved.status == "unchanged" and saved.doc in indexed:
        await edit(status, say.unchanged(saved.doc, ingest.title_of(saved.doc), tr=tr))
        return
    build = ingest.builds.request()
    report = await await_build(status, build.result(), lambda: build.describe(tr), "", tr=tr)
    if report is None:
        return
    skipped = next((s for s in report.skipped if s.path == saved.doc), None)
    document = await asyncio.to_thread(ingest.describe, saved.doc, "changed" if saved.status == "changed" else "added")
    if document is None:
        reason = skipped.reason if skipped else tr.gettext("it is not in the index (it may have been removed meanwhile)")
        await edit(status, say.skipped_by_build(saved.doc, reason, tr=tr))
        return
    await edit(status, say.added(document, report, tr=tr))


async def _save(status: Message, tr: Translator, what: str, call, *args, **kwargs) -> Saved | None:
    """Run a blocking ``SeedInbox.save_*`` in a thread; a refused document edits ``status`` with why."""
    try:
        return await asyncio.to_thread(call, *args, **kwargs)
    except IngestError as exc:
        log.info("not adding %s: %s", what, exc)
        await edit(status, say.not_added(what, str(exc), tr=tr))
    except OSError as exc:  # a full disk, a read-only seeds folder: nothing half-written stays
        log.error("could not store %s in the seeds folder", what, exc_info=exc)
        why = tr.gettext("it could not be stored in the seeds folder ({error})", error=exc.strerror or exc)
        await edit(status, say.not_added(what, why, tr=tr))
    return None


# ------------------------------------------------------------------ uploads


async def document_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A file in a private chat: an admin's is downloaded, stored, indexed and reported."""
    message = update.effective_message
    user = update.effective_user
    ingest = ingest_of(context)
    document = message.document
    tr = await translator_for(update, context)
    if not ingest.is_admin(user.id if user else None):
        log.warning("refused a file from user id %s: not in [bot] admins (not downloaded)", user.id if user else "unknown")
        await send(message, [say.refused(tr=tr)], quote=False)
        return
    name = document.file_name
    if document_suffix(name, document.mime_type) is None:
        await send(message, [say.not_a_document(name or document.mime_type, tr=tr)], quote=True)
        return
    size = document.file_size
    if size == 0:
        await send(message, [say.empty_file(name, tr=tr)], quote=True)
        return
    if size is not None and (size > ingest.max_bytes or (ingest.public_limit and size > ingest.public_limit)):
        too_large = say.too_large(name, size, ingest.max_bytes, ingest.public_limit or PUBLIC_DOWNLOAD_LIMIT, tr=tr)
        await send(message, [too_large], quote=True)
        return
    status = (await send(message, [say.downloading(name, tr=tr)], quote=True))[0]
    try:
        data = await _download(context, document)
    except _TooBig:
        await edit(status, say.too_large(name, size, ingest.max_bytes, PUBLIC_DOWNLOAD_LIMIT, tr=tr))
        return
    except TelegramError as exc:
        # Never log or show the exception text of a download: the file URL holds the token.
        log.warning("download of a file from user id %s failed: %s", user.id, exc.__class__.__name__)
        await edit(status, say.download_failed(name, tr.gettext("Telegram did not deliver it completely"), tr=tr))
        return
    origin = message.forward_origin
    source = post_link(origin.chat, origin.message_id) if isinstance(origin, MessageOriginChannel) else None
    saved = await _save(
        status, tr, name or tr.gettext("the file"), ingest.inbox.save_upload, name, data,
        mime_type=document.mime_type, added_by=user.id, title=message.caption, source=source,
        messages=(message_key(message.chat_id, message.message_id),), indexed=await asyncio.to_thread(ingest.indexed),
    )
    if saved is not None:
        log.info("admin user id %s added %s (%s)", user.id, saved.doc, saved.status)
        await _index_and_report(status, saved, ingest, tr)


class _TooBig(Exception):
    pass


async def _download(context: ContextTypes.DEFAULT_TYPE, document) -> bytes:
    """The file's bytes from ``<base_file_url><token>/<file_path>`` (getFile first)."""
    try:
        file = await context.bot.get_file(document)
    except BadRequest as exc:
        if "too big" in str(exc).lower():
            raise _TooBig() from None
        raise
    return bytes(await file.download_as_bytearray(read_timeout=DOWNLOAD_TIMEOUT))


async def media_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo, video, voice or audio message in a private chat: not a document."""
    message = update.effective_message
    user = update.effective_user
    tr = await translator_for(update, context)
    if not ingest_of(context).is_admin(user.id if user else None):
        log.warning("refused a file from user id %s: not in [bot] admins (not downloaded)", user.id if user else "unknown")
        await send(message, [say.refused(tr=tr)], quote=False)
        return
    kind = next((attr for attr in say.MEDIA_KINDS if getattr(message, attr)), "media")
    await send(message, [say.not_a_file(kind, tr=tr)], quote=True)


# ------------------------------------------------------------------ links


async def link_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A private message that is only a link: an admin's is added; anyone else's is a question."""
    if not ingest_of(context).is_admin(update.effective_user.id if update.effective_user else None):
        await handlers.private_message(update, context)
        return
    tr = await translator_for(update, context)
    url = URL_ONLY.match(update.effective_message.text).group(1)
    await _add_link(update.effective_message, update.effective_user.id, url, context, tr)


async def add_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/add <url> (admins only): fetch the link and index it."""
    message = update.effective_message
    user = update.effective_user
    tr = await translator_for(update, context)
    if not ingest_of(context).is_admin(user.id if user else None):
        log.warning("refused /add from user id %s: not in [bot] admins", user.id if user else "unknown")
        await send(message, [render.refusal("add", tr=tr)], quote=message.chat.type != Chat.PRIVATE)
        return
    if not context.args:
        await send(message, [say.add_usage(tr=tr)], quote=True)
        return
    await _add_link(message, user.id, context.args[0], context, tr)


async def _add_link(message: Message, user_id: int, url: str, context: ContextTypes.DEFAULT_TYPE, tr: Translator) -> None:
    ingest = ingest_of(context)
    settings = ingest.config.ingest
    status = (await send(message, [say.fetching(url, tr=tr)], quote=True))[0]
    try:
        page = await asyncio.to_thread(
            fetch_url, url, max_bytes=ingest.max_bytes, timeout=settings.fetch_timeout,
            allow_private=settings.allow_private_urls,
        )
    except IngestError as exc:
        log.info("not adding link from admin user id %s: %s", user_id, exc)
        await edit(status, say.not_added(url, str(exc), tr=tr))
        return
    saved = await _save(
        status, tr, url, ingest.inbox.save_link, url, page.name, page.data, added_by=user_id,
        messages=(message_key(message.chat_id, message.message_id),), indexed=await asyncio.to_thread(ingest.indexed),
    )
    if saved is not None:
        log.info("admin user id %s added %s from a link (%s)", user_id, saved.doc, saved.status)
        await _index_and_report(status, saved, ingest, tr)


# ------------------------------------------------------------------ channel posts


class ForwardedChannelPost(filters.MessageFilter):
    """Messages forwarded from a channel."""

    def filter(self, message: Message) -> bool:
        return isinstance(message.forward_origin, MessageOriginChannel)


async def forwarded_post(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A channel post an admin forwarded (e.g. one from before the bot joined): indexed with its link."""
    message = update.effective_message
    user = update.effective_user
    ingest = ingest_of(context)
    tr = await translator_for(update, context)
    if not ingest.is_admin(user.id if user else None):
        log.warning("refused a forwarded post from user id %s: not in [bot] admins", user.id if user else "unknown")
        await send(message, [say.refused(tr=tr)], quote=False)
        return
    origin: MessageOriginChannel = message.forward_origin
    text = message.text or message.caption or ""
    minimum = ingest.config.ingest.min_post_chars
    if len(text.strip()) < minimum:
        await send(message, [say.post_too_short(len(text.strip()), minimum, tr=tr)], quote=True)
        return
    status = (await send(message, [say.saving_post(tr=tr)], quote=True))[0]
    saved = await _save(
        status, tr, tr.gettext("the post"), ingest.inbox.save_post, channel=_channel_key(origin.chat), message_id=origin.message_id,
        text=text, link=post_link(origin.chat, origin.message_id), stamp=_stamp(message, update), added_by=user.id,
        messages=(message_key(message.chat_id, message.message_id),), indexed=await asyncio.to_thread(ingest.indexed),
    )
    if saved is not None:
        log.info("admin user id %s added forwarded post %s (%s)", user.id, saved.doc, saved.status)
        await _index_and_report(status, saved, ingest, tr)


async def channel_post(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A post or an edit in a channel of ``[ingest] channels``: stored now, indexed with the next batch."""
    post = update.channel_post or update.edited_channel_post
    ingest = ingest_of(context)
    if post is None or not ingest.follows(post.chat):
        return
    try:
        await _take_post(update, post, ingest)
    except Exception as exc:  # logged here: the error handler would answer in the channel
        log.error("channel post %s of chat %s not handled", post.message_id, post.chat.id, exc_info=exc)


async def _take_post(update: Update, post: Message, ingest: Ingest) -> None:
    text = post.text or post.caption or ""
    doc = post_doc(ingest.config.ingest.subfolder, _channel_key(post.chat), post.message_id)
    if text.strip().lower().startswith("/forget") and post.reply_to_message is not None:
        # Whoever can post in the channel administers it: /forget in reply to a post removes it.
        replied = post_doc(ingest.config.ingest.subfolder, _channel_key(post.chat), post.reply_to_message.message_id)
        await _forget_post(ingest, replied, f"/forget in channel {post.chat.id}")
        return
    if len(text.strip()) < ingest.config.ingest.min_post_chars:
        if update.edited_channel_post is not None:  # edited below the minimum: no longer a document
            await _forget_post(ingest, doc, "edited below [ingest] min_post_chars")
        return
    try:
        saved = await asyncio.to_thread(
            ingest.inbox.save_post, channel=_channel_key(post.chat), message_id=post.message_id, text=text,
            link=post_link(post.chat, post.message_id), stamp=_stamp(post, update),
            indexed=await asyncio.to_thread(ingest.indexed),
        )
    except IngestError as exc:
        log.warning("channel post %s of chat %s not added: %s", post.message_id, post.chat.id, exc)
        return
    log.info("channel post %s of chat %s stored as %s (%s)", post.message_id, post.chat.id, saved.doc, saved.status)
    if saved.stored:
        _batched_build(ingest)


async def _forget_post(ingest: Ingest, doc: str, why: str) -> None:
    try:
        removed = await asyncio.to_thread(ingest.inbox.forget, doc)
    except IngestError as exc:
        log.warning("cannot forget %s: %s", doc, exc)
        return
    if removed:
        log.info("forgot %s (%s)", doc, why)
        _batched_build(ingest)


def _batched_build(ingest: Ingest) -> None:
    # Nobody waits for a channel's build: the queue logs how it went.
    ingest.builds.request(delay=ingest.config.ingest.post_delay)


# ------------------------------------------------------------------ /forget


async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/forget (admins only): remove a document from the seeds folder and the index."""
    message = update.effective_message
    user = update.effective_user
    ingest = ingest_of(context)
    quote = message.chat.type != Chat.PRIVATE
    tr = await translator_for(update, context)
    if not ingest.is_admin(user.id if user else None):
        log.warning("refused /forget from user id %s: not in [bot] admins", user.id if user else "unknown")
        await send(message, [render.refusal("forget", tr=tr)], quote=quote)
        return
    wanted = " ".join(context.args or []).strip()
    doc = await asyncio.to_thread(_find_document, ingest, message.reply_to_message, wanted)
    if doc is None:
        await send(message, [say.forget_unknown(wanted, tr=tr) if wanted else say.forget_usage(tr=tr)], quote=True)
        return
    title = ingest.title_of(doc)
    status = (await send(message, [say.forgetting(doc, title, tr=tr)], quote=True))[0]
    try:
        await asyncio.to_thread(ingest.inbox.forget, doc)
    except IngestError as exc:
        await edit(status, say.forget_failed(doc, str(exc), tr=tr))
        return
    log.info("admin user id %s forgot %s", user.id, doc)
    build = ingest.builds.request()
    report = await await_build(status, build.result(), lambda: build.describe(tr), "", tr=tr)
    if report is not None:
        await edit(status, say.forgotten(doc, title, report, tr=tr))


def _find_document(ingest: Ingest, replied: Message | None, wanted: str) -> str | None:
    """The document ``/forget`` means: the one a replied-to message was about, or by number, name or link. Blocking."""
    registry = ingest.inbox.registry
    if replied is not None and not wanted:
        doc = registry.find_message(replied.chat_id, replied.message_id)
        origin = replied.forward_origin
        if doc is None and isinstance(origin, MessageOriginChannel):
            doc = post_doc(ingest.config.ingest.subfolder, _channel_key(origin.chat), origin.message_id)
        return doc
    if not wanted:
        return None
    try:
        with ingest.services.slot.use() as retriever:
            documents = [doc for doc, _ in retriever.documents]
            sources = {retriever.source(doc): doc for doc in documents}
    except DocQAError:
        documents, sources = [], {}
    if wanted.isdigit():
        number = int(wanted)
        return documents[number - 1] if 1 <= number <= len(documents) else None
    if wanted in documents:
        return wanted
    return sources.get(wanted) or registry.find_source(wanted)
