"""Handlers for feedback: vote buttons, the optional reason, /stats, and the daily/weekly jobs.

Registered by ``bot.app``: ``vote`` (callback data ``vote:…``), ``vote_reason`` (private
replies, in handler group -1 so an ordinary reply falls through to the question
handlers), ``stats`` (/stats) and ``housekeeping`` (a repeating job).  The question
itself is logged by ``bot.handlers._answer`` through ``Feedback.log``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from telegram import Bot, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import feedback_render, handlers, render
from bot.feedback import Feedback, Vote
from bot.i18n import ENGLISH
from bot.languages import ChatLanguages, translator_for
from bot.stats import collect_stats, period, unanswered

log = logging.getLogger(__name__)

# How long a "not helpful" voter may reply with a reason.
REASON_WINDOW = timedelta(minutes=5)
REASON_NAMESPACE = "vote-reason"
RETENTION_EVERY = timedelta(days=1)
REPORT_WEEKDAY = 0  # Monday
REPORT_TOP = 10


def feedback_of(context: ContextTypes.DEFAULT_TYPE) -> Feedback:
    return context.bot_data["feedback"]


def _reason_key(feedback: Feedback, chat: int, prompt_id: int) -> str:
    return f"{feedback.store.hash('chat', chat)}:{prompt_id}"


# ------------------------------------------------------------------ votes


async def vote(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A vote button: counted once per person and answer, acknowledged only to the voter."""
    query = update.callback_query
    feedback = feedback_of(context)
    parsed = feedback_render.parse_vote(query.data)
    message = query.message
    tr = await translator_for(update, context)
    if parsed is None or not isinstance(message, Message) or query.from_user is None:
        await query.answer(feedback_render.vote_ack(Vote.UNKNOWN, True, tr=tr), show_alert=True)
        return
    answer_id, helpful = parsed
    now = feedback.clock()
    try:
        outcome = await asyncio.to_thread(
            feedback.store.vote, answer_id, chat=message.chat_id, user=query.from_user.id, helpful=helpful, now=now
        )
    except Exception as exc:  # a full disk or a locked database: tell the voter, keep serving
        log.error("could not record a vote on answer %s: %s", answer_id, exc)
        await query.answer(feedback_render.vote_failed(tr=tr), show_alert=True)
        return
    refused = outcome in (Vote.UNKNOWN, Vote.OTHER_CHAT)
    if refused:
        log.warning("refused a vote on answer %s: %s", answer_id, outcome.value)
    # answerCallbackQuery shows the notice to the voter alone: a group never sees who voted how.
    await query.answer(feedback_render.vote_ack(outcome, helpful, tr=tr), show_alert=refused)
    asks_reason = not helpful and outcome in (Vote.RECORDED, Vote.CHANGED) and message.chat.type == ChatType.PRIVATE
    if asks_reason and feedback.config.privacy.log_questions:
        # No ForceReply: it would turn the reader's next question into a "reason"; only a deliberate
        # reply to the prompt counts as one.
        [prompt] = await handlers.send(message, [feedback_render.reason_prompt(tr=tr)], quote=False)
        await asyncio.to_thread(
            feedback.pending.put,
            REASON_NAMESPACE,
            _reason_key(feedback, message.chat_id, prompt.message_id),
            {"answer": answer_id},
            expires=now + REASON_WINDOW,
        )


async def vote_reason(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A private reply to the "what was wrong?" prompt: the reason for a "not helpful" vote.

    Any other reply (or one after the window closed) returns, and the message is
    handled as a question by the next handler group.
    """
    message = update.effective_message
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != context.bot.id:
        return
    feedback = feedback_of(context)
    key = _reason_key(feedback, message.chat_id, replied.message_id)
    try:
        pending = await asyncio.to_thread(feedback.pending.get, REASON_NAMESPACE, key, now=feedback.clock())
    except Exception as exc:  # cannot tell whether it is a reason: let it be answered as a question
        log.error("could not look up a vote-reason prompt: %s", exc)
        return
    if pending is None:
        return
    tr = await translator_for(update, context)
    reply = feedback_render.reason_thanks(tr=tr)
    try:
        await asyncio.to_thread(
            feedback.store.add_reason, int(pending["answer"]), user=update.effective_user.id, reason=message.text
        )
        await asyncio.to_thread(feedback.pending.delete, REASON_NAMESPACE, key)
    except Exception as exc:  # the reason is optional: say so rather than raise an error reply
        log.error("could not record a vote reason: %s", exc)
        reply = feedback_render.reason_failed(tr=tr)
    await handlers.send(message, [reply], quote=False)
    raise ApplicationHandlerStop


# ------------------------------------------------------------------ /stats


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stats (bot admins, private chat): questions, gaps, cited documents, disputed answers, and a chart."""
    message = update.effective_message
    user = update.effective_user
    private = message.chat.type == ChatType.PRIVATE
    tr = await translator_for(update, context)
    if user is None or user.id not in handlers.services_of(context).admins:
        log.warning("refused /stats from user id %s: not in [bot] admins", user.id if user else "unknown")
        await handlers.send(message, [render.refusal("stats", tr=tr)], quote=not private)
        return
    if not private:
        await handlers.send(message, [feedback_render.stats_private_only(tr=tr)], quote=True)
        return
    feedback = feedback_of(context)
    async with handlers.typing(message):
        result = await asyncio.to_thread(
            collect_stats, feedback.store.db, feedback.clock(), log_questions=feedback.config.privacy.log_questions
        )
    await handlers.send(message, feedback_render.stats_messages(result, tr=tr), quote=False)
    if not any(d.answered or d.declined for d in result.daily):
        return
    try:
        from bot.chart import questions_per_day_png

        png = await asyncio.to_thread(functools.partial(questions_per_day_png, result.daily, tr=tr))
    except ImportError as exc:  # matplotlib missing from this install: the figures above still stand
        log.warning("no /stats chart: %s", exc)
        return
    try:
        await message.reply_photo(png, caption=feedback_render.chart_caption(result, tr=tr))
    except TelegramError as exc:
        log.warning("could not send the /stats chart: %s", exc)


# ------------------------------------------------------------------ jobs


def weekly_slot(now: datetime, time_text: str, tz_name: str, weekday: int = REPORT_WEEKDAY) -> datetime:
    """The latest ``weekday`` at ``time_text`` (local to ``tz_name``) at or before ``now``, in UTC."""
    tz = ZoneInfo(tz_name)
    local = now.astimezone(tz)
    hour, minute = map(int, time_text.split(":"))
    day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
    slot = datetime.combine(day, time(hour, minute), tzinfo=tz)
    if slot > local:
        slot -= timedelta(days=7)
    return slot.astimezone(timezone.utc)


async def housekeeping(context: ContextTypes.DEFAULT_TYPE) -> None:
    """JobQueue callback: the daily retention clean-up and the admins' weekly report, each once across processes."""
    feedback = feedback_of(context)
    now = feedback.clock()
    try:
        claimed = await asyncio.to_thread(
            feedback.store.claim, "retention", lambda last: now if last is None or now - last >= RETENTION_EVERY else None
        )
        if claimed:
            deleted = await asyncio.to_thread(feedback.store.purge, now)
            await asyncio.to_thread(feedback.pending.purge, now)
            log.info(
                "question log: deleted %d row(s) older than %d days", deleted, feedback.config.privacy.retention_days
            )
    except Exception as exc:  # a full disk must not stop the job queue; tomorrow's run tries again
        log.error("question-log retention failed: %s", exc)
    if feedback.config.digest.admin_report:
        await send_admin_report(context.bot, feedback, now, context.bot_data.get("languages"))


async def send_admin_report(bot: Bot, feedback: Feedback, now: datetime, languages: ChatLanguages | None = None) -> bool:
    """Send the weekly report to every admin if this week's is due and not yet sent; True if sent.

    Each admin gets it in their private chat's language for scheduled posts (``ChatLanguages.for_post``).
    """
    digest = feedback.config.digest
    slot = weekly_slot(now, digest.times[0], digest.timezone)
    try:
        claimed = await asyncio.to_thread(
            feedback.store.claim, "admin-report", lambda last: slot if last is None or last < slot else None
        )
        if claimed is None:
            return False
        if claimed[0] is None:  # just enabled: the first report goes out at the next slot
            return False
        week = now - timedelta(days=7)
        figures = await asyncio.to_thread(period, feedback.store.db, now, 7)
        groups = await asyncio.to_thread(unanswered, feedback.store.db, week, REPORT_TOP)
    except Exception as exc:
        log.error("weekly admin report failed: %s", exc)
        return False
    log_questions = feedback.config.privacy.log_questions
    for admin in feedback.config.bot.admins:
        tr = await asyncio.to_thread(languages.for_post, admin) if languages else ENGLISH
        texts = feedback_render.admin_report(figures, groups if log_questions else [], log_questions, tr=tr)
        try:
            for text in texts:
                await bot.send_message(admin, text)
        except TelegramError as exc:  # e.g. the admin never opened a chat with the bot
            log.warning("could not send the weekly report to admin user id %s: %s", admin, exc)
    log.info("weekly admin report sent to %d admin(s)", len(feedback.config.bot.admins))
    return True
