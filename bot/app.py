"""Wiring: build the Application, register the handlers, load the services once at start-up.

Usage::

    application = build_application(config, token, database_password=password)
    run(application, config.telegram, webhook_secret)   # long polling, or a webhook when configured

Nothing here answers anything: the handlers live in ``bot.handlers``, the HTML in
``bot.render`` and the long-lived objects in ``bot.services``.  Several processes
built here can serve one bot (replicas behind one webhook): they share the index
directory and the state database, and keep nothing a later update needs in memory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from datetime import timedelta
from typing import Any, Callable

from telegram import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    filters,
)

from bot import feedback_handlers, feedback_render, handlers, ingest, render
from bot.digest_job import TICK_SECONDS, Clock, DigestPoster, utc_now
from bot.digest_store import LEGACY_FILE, DigestStore
from bot.feedback import Feedback, FeedbackStore
from bot.followups import FollowUps
from bot.i18n import ENGLISH, SOURCE, Catalogs, Translator
from bot.languages import ChatLanguages
from bot.lease import Lease, replica_id
from bot.services import Services
from bot.state import KeyValue, open_state
from core.config import Config, TelegramConfig
from core.embedder import Embedder, load_embedder, onnx_cache_dir
from core.errors import ConfigError, IndexCorruptError, IndexMismatchError, IndexNotFoundError, StoreUnavailableError
from retrieval.retriever import Retriever

log = logging.getLogger(__name__)

# Channel posts and their edits become documents ([ingest] channels); Telegram sends them only if asked.
ALLOWED_UPDATES = [
    Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER, Update.CHANNEL_POST, Update.EDITED_CHANNEL_POST
]
# Seconds between checks that the index directory's ``current`` still points at the version served.
INDEX_WATCH_SECONDS = 5.0
# Seconds between purges of expired records (answers behind old buttons) from the state database.
PURGE_SECONDS = 3600.0
# A reindex holds its lease this long past each renewal (renewed every few seconds while it runs).
REINDEX_LEASE = timedelta(seconds=60)


def command_menus(tr: Translator = ENGLISH) -> dict[str, list[BotCommand]]:
    """The command menus in ``tr``'s language, by audience: everyone, private chats, group admins, bot admins."""
    everyone = [
        BotCommand("ask", tr.gettext("Answer a question from the documents")),
        BotCommand("sources", tr.gettext("List the documents I answer from")),
        BotCommand("start", tr.gettext("What I know and how to ask")),
        BotCommand("help", tr.gettext("How to ask, and the commands")),
    ]
    language = BotCommand("language", tr.gettext("The language I answer in"))
    group_admins = everyone + [
        BotCommand("subscribe", tr.gettext("Post document digests in this chat")),
        BotCommand("unsubscribe", tr.gettext("Stop digests in this chat")),
        language,
    ]
    admins = group_admins + [
        BotCommand("digest", tr.gettext("Post this chat's digest now (admins only)")),
        BotCommand("reindex", tr.gettext("Re-read the documents (admins only)")),
        BotCommand("add", tr.gettext("Add a document from a link (admins only)")),
        BotCommand("forget", tr.gettext("Remove a document (admins only)")),
        BotCommand("stats", tr.gettext("Questions, gaps and votes (admins only)")),
    ]
    return {"everyone": everyone, "private": everyone + [language], "group_admins": group_admins, "admins": admins}


async def set_command_menus(bot, catalogs: Catalogs, admins: tuple[int, ...]) -> None:
    """Register the menus with Telegram: English for everyone, and one per catalog for users whose app uses it."""
    for language, code in _menu_languages(catalogs):
        menus = command_menus(catalogs.translator(language))
        await bot.set_my_commands(menus["everyone"], language_code=code)
        await bot.set_my_commands(menus["private"], scope=BotCommandScopeAllPrivateChats(), language_code=code)
        await bot.set_my_commands(menus["group_admins"], scope=BotCommandScopeAllChatAdministrators(), language_code=code)
    for admin in admins:
        try:
            for language, code in _menu_languages(catalogs):
                menus = command_menus(catalogs.translator(language))
                await bot.set_my_commands(menus["admins"], scope=BotCommandScopeChat(admin), language_code=code)
        except TelegramError as exc:  # the admin has not opened a chat with the bot yet
            log.info("could not set the admin command menu for user id %s: %s", admin, exc)


def _menu_languages(catalogs: Catalogs) -> list[tuple[str, str | None]]:
    """(catalog, Telegram language_code) pairs: English as the default (no code), then each catalog's
    two-letter code (Telegram takes no regions: "pt_BR" goes under "pt" unless "pt" has its own)."""
    pairs: list[tuple[str, str | None]] = [(SOURCE, None)]
    codes = {SOURCE}
    for language in sorted(catalogs.languages, key=lambda code: ("_" in code, code)):
        code = language.split("_")[0]
        if code not in codes and len(code) == 2:
            pairs.append((language, code))
            codes.add(code)
    return pairs


def build_application(
    config: Config,
    token: str,
    *,
    embedder_loader: Callable[[str], Embedder] | None = None,
    clock: Clock = utc_now,
    digest_every: float = TICK_SECONDS,
    index_watch_every: float = INDEX_WATCH_SECONDS,
    database_password: str | None = None,
) -> Application:
    """The bot, ready for ``run``; the model, index and state database open in ``post_init``.

    ``embedder_loader`` maps the configured model name to an embedder (tests pass a fake);
    ``clock`` and ``digest_every`` (seconds between digest checks, and between the checks for the
    question log's daily clean-up and the admins' weekly report) let tests control time;
    ``index_watch_every`` is the seconds between checks for an index built by another process;
    ``database_password`` goes with ``[bot] database_url`` (read from the environment by the caller).
    """

    # By default the configured backend: the ONNX export when the index build made one
    # (no torch in the bot; /reindex embeds with it too, same vectors), else sentence-transformers.
    loader = embedder_loader or functools.partial(
        load_embedder, backend=config.index.backend, onnx_cache=onnx_cache_dir(config.index.dir)
    )
    catalogs = load_catalogs(config)

    async def post_init(application: Application) -> None:
        embedder = await asyncio.to_thread(loader, config.index.model)
        try:
            retriever = await asyncio.to_thread(Retriever.open, config, embedder)
        except (IndexNotFoundError, IndexCorruptError, IndexMismatchError, StoreUnavailableError) as exc:
            # Start anyway: /start says so, and an admin can /reindex from the chat.
            log.warning("starting without a usable index: %s", exc)
            retriever = None
        state = await asyncio.to_thread(open_state, config.bot, database_password)
        application.bot_data["state"] = state
        languages = ChatLanguages(
            catalogs, KeyValue(state), group_language=config.bot.group_language, post_language=config.digest.language
        )
        application.bot_data["languages"] = languages
        services = Services(config, embedder, retriever, state)
        application.bot_data["services"] = services
        # Leases: which replica posts digests, which one runs a reindex (see bot.lease).
        replica = replica_id()
        application.bot_data["replica"] = replica
        digest_ttl = max(timedelta(seconds=3 * digest_every), timedelta(seconds=30))
        application.bot_data["digest_lease"] = await asyncio.to_thread(Lease, state, "digest", holder=replica, ttl=digest_ttl)
        application.bot_data["reindex_lease"] = await asyncio.to_thread(Lease, state, "reindex", holder=replica, ttl=REINDEX_LEASE)
        # Documents through Telegram: their builds take the same lease as /reindex.
        application.bot_data["ingest"] = ingest.Ingest.create(config, services, application.bot_data["reindex_lease"])
        store = await asyncio.to_thread(DigestStore, state)
        await asyncio.to_thread(store.import_legacy, config.bot.data_dir / LEGACY_FILE)
        await asyncio.to_thread(store.sync_configured, config.digest.chats, clock())
        window = dt.timedelta(minutes=config.retrieval.follow_up_minutes)
        application.bot_data["follow_ups"] = await asyncio.to_thread(FollowUps, KeyValue(state), window, clock)
        application.bot_data["digest"] = DigestPoster(
            config.digest, store, services.slot.use, clock, translator_for=languages.for_post
        )
        # The first check runs right away, so a digest missed while the bot was down goes out now.
        application.job_queue.run_repeating(handlers.digest_tick, interval=digest_every, first=0.1, name="digest")
        application.job_queue.run_repeating(handlers.index_watch, interval=index_watch_every, name="index-watch")
        application.job_queue.run_repeating(handlers.purge_state, interval=PURGE_SECONDS, first=60, name="purge")
        feedback = FeedbackStore(state, config.privacy)
        application.bot_data["feedback"] = Feedback(feedback, KeyValue(state), clock, config)
        application.job_queue.run_repeating(
            feedback_handlers.housekeeping, interval=digest_every, first=0.2, name="housekeeping"
        )
        await set_command_menus(application.bot, catalogs, config.bot.admins)
        log.info("bot @%s ready: %s document(s) (replica %s)", application.bot.username, services.document_count(), replica)

    async def post_shutdown(application: Application) -> None:
        if "ingest" in application.bot_data:  # index what channel posts are still waiting for
            await application.bot_data["ingest"].builds.close()
        services = application.bot_data.get("services")
        if services is not None:
            services.close()
        for name in ("digest_lease", "reindex_lease"):
            lease = application.bot_data.get(name)
            if lease is not None:  # another replica takes over at its next check, not after the expiry
                await asyncio.to_thread(lease.release)
        state = application.bot_data.get("state")
        if state is not None:
            state.close()

    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(config.telegram.base_url)
        .base_file_url(config.telegram.base_file_url)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                allow_sending_without_reply=True,
            )
        )
        .rate_limiter(AIORateLimiter(max_retries=3))
        .concurrent_updates(True)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    add_handlers(application)
    return application


def load_catalogs(config: Config) -> Catalogs:
    """The bot's catalogs (bot/locale); a configured language without one is a configuration error."""
    catalogs = Catalogs.load()
    for key, language, auto in (
        ("bot.group_language", config.bot.group_language, "auto or "),
        ("digest.language", config.digest.language, ""),
    ):
        if language != "auto" and language not in catalogs:
            raise ConfigError(
                f"{key} must be {auto}a language the bot has texts in ({', '.join(catalogs.languages)}). "
                f"Currently, {key} is {language!r}"
            )
    return catalogs


def add_handlers(application: Application) -> None:
    application.add_handler(CommandHandler("start", handlers.start))
    application.add_handler(CommandHandler("help", handlers.help_command))
    application.add_handler(CommandHandler("ask", handlers.ask))
    application.add_handler(CommandHandler("sources", handlers.sources))
    application.add_handler(CommandHandler("reindex", handlers.reindex))
    application.add_handler(CommandHandler("digest", handlers.digest_command))
    application.add_handler(CommandHandler("subscribe", handlers.subscribe))
    application.add_handler(CommandHandler("unsubscribe", handlers.unsubscribe))
    application.add_handler(CommandHandler("language", handlers.language))
    application.add_handler(CommandHandler("stats", feedback_handlers.stats))
    # Documents through Telegram (bot/ingest.py); not on edits, which would add or forget twice.
    new = filters.UpdateType.MESSAGE
    application.add_handler(CommandHandler("add", ingest.add_command, filters=new))
    application.add_handler(CommandHandler("forget", ingest.forget, filters=new))
    application.add_handler(MessageHandler(filters.UpdateType.CHANNEL_POSTS, ingest.channel_post))
    private = filters.ChatType.PRIVATE & new
    application.add_handler(MessageHandler(private & filters.Document.ALL, ingest.document_message))
    # A forwarded channel post is its text (or a photo's caption); other media are not documents.
    forwarded = ingest.ForwardedChannelPost() & (filters.TEXT | filters.CAPTION) & ~filters.COMMAND
    application.add_handler(MessageHandler(private & forwarded, ingest.forwarded_post))
    media = filters.PHOTO | filters.VIDEO | filters.ANIMATION | filters.VOICE | filters.VIDEO_NOTE | filters.AUDIO
    application.add_handler(MessageHandler(private & media, ingest.media_message))
    application.add_handler(MessageHandler(private & filters.TEXT & filters.Regex(ingest.URL_ONLY), ingest.link_message))
    application.add_handler(ChatMemberHandler(handlers.membership, ChatMemberHandler.MY_CHAT_MEMBER))
    text = filters.TEXT & ~filters.COMMAND
    application.add_handler(MessageHandler(filters.ChatType.PRIVATE & text, handlers.private_message))
    application.add_handler(MessageHandler(filters.ChatType.GROUPS & text & handlers.AddressedToBot(), handlers.group_message))
    application.add_handler(CallbackQueryHandler(handlers.more_extracts, pattern=f"^{render.MORE}:"))
    application.add_handler(CallbackQueryHandler(handlers.full_paragraph, pattern=f"^{render.PARAGRAPH}:"))
    application.add_handler(CallbackQueryHandler(feedback_handlers.vote, pattern=f"^{feedback_render.VOTE}:"))
    # Group -1: a reply to the "what was wrong?" prompt is taken as a vote reason; any other
    # private message falls through to the question handlers below.
    application.add_handler(
        MessageHandler(filters.ChatType.PRIVATE & text & filters.REPLY, feedback_handlers.vote_reason), group=-1
    )
    application.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, handlers.unknown_command))
    application.add_error_handler(handlers.error)


def run(application: Application, telegram: TelegramConfig, webhook_secret: str | None = None, **kwargs: Any) -> None:
    """Serve updates until interrupted: a webhook when ``telegram.webhook_url`` is set, else long polling."""
    if telegram.webhook_url:
        run_webhook(application, telegram, webhook_secret or "", **kwargs)  # refuses an empty secret
    else:
        run_polling(application, **kwargs)


def run_polling(application: Application, **kwargs: Any) -> None:
    """Long-poll until interrupted (Ctrl-C / SIGTERM); ``kwargs`` go to ``Application.run_polling``."""
    application.run_polling(allowed_updates=ALLOWED_UPDATES, **kwargs)


def run_webhook(application: Application, telegram: TelegramConfig, secret: str, **kwargs: Any) -> None:
    """Serve Telegram's webhook calls until interrupted; ``kwargs`` go to ``Application.run_webhook``.

    Each start sets the webhook (the same URL and secret from every replica, so this is
    idempotent) and keeps the updates Telegram holds: another replica may be serving them.
    Requests without the secret token in ``X-Telegram-Bot-Api-Secret-Token`` get 403.
    Stopping leaves the webhook in place, for the other replicas.
    """
    if not secret:  # a webhook anyone can post forged updates to is never what was meant
        raise ConfigError(f"webhook mode needs a secret token in {telegram.webhook_secret_env}")
    application.run_webhook(
        listen=telegram.webhook_listen,
        port=telegram.webhook_port,
        url_path=telegram.webhook_path,
        webhook_url=telegram.webhook_url,
        secret_token=secret,
        allowed_updates=ALLOWED_UPDATES,
        drop_pending_updates=False,
        **kwargs,
    )
