"""Vote buttons, vote acknowledgements, /stats and the admins' weekly report: pure functions, no I/O.

Usage::

    markup = with_votes(render.answer_keyboard(key, answer, 0, 3), answer_id, tr=tr)
    parse_vote("vote:812:0")                 # -> (812, False)
    texts = stats_messages(stats, tr=tr)     # HTML messages, each <= 4096

Every question, answer and reason quoted is user or document text: escaped.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.feedback import Vote
from bot.i18n import ENGLISH, Translator
from bot.render import esc, pack
from bot.stats import DisputedAnswer, Period, QuestionGroup, Stats
from core.text import shorten

# Callback data "vote:<answer id>:<1|0>": under 30 bytes for any id SQLite or PostgreSQL makes.
VOTE = "vote"
QUOTE_CHARS = 160  # questions and answers quoted in /stats


def vote_labels(*, tr: Translator = ENGLISH) -> tuple[str, str]:
    """The vote buttons' labels: helpful, not helpful."""
    return "👍 " + tr.pgettext("vote button", "Helpful"), "👎 " + tr.pgettext("vote button", "Not helpful")


def vote_data(answer_id: int, helpful: bool) -> str:
    return f"{VOTE}:{answer_id}:{int(helpful)}"


def parse_vote(data: str | None) -> tuple[int, bool] | None:
    """(answer id, helpful) from a vote button's data, or None if it is not one we make."""
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != VOTE or parts[2] not in ("0", "1") or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2] == "1"


def with_votes(
    markup: InlineKeyboardMarkup | None, answer_id: int | None, *, tr: Translator = ENGLISH
) -> InlineKeyboardMarkup | None:
    """``markup`` with a row of vote buttons added under it (unchanged when the answer was not logged)."""
    if answer_id is None:
        return markup
    helpful, unhelpful = vote_labels(tr=tr)
    row = (
        InlineKeyboardButton(helpful, callback_data=vote_data(answer_id, True)),
        InlineKeyboardButton(unhelpful, callback_data=vote_data(answer_id, False)),
    )
    rows = tuple(markup.inline_keyboard) if markup else ()
    return InlineKeyboardMarkup(rows + (row,))


def vote_ack(outcome: Vote, helpful: bool, *, tr: Translator = ENGLISH) -> str:
    """The private acknowledgement of a vote (an answerCallbackQuery notice: plain text, <= 200 characters)."""
    if outcome is Vote.RECORDED:
        return tr.gettext("Thanks! Noted as helpful.") if helpful else tr.gettext("Thanks! Noted as not helpful.")
    if outcome is Vote.CHANGED:
        return tr.gettext("Changed: your vote is now helpful.") if helpful else tr.gettext("Changed: your vote is now not helpful.")
    if outcome is Vote.UNCHANGED:
        if helpful:
            return tr.gettext("You already marked this answer helpful; it counts once.")
        return tr.gettext("You already marked this answer not helpful; it counts once.")
    if outcome is Vote.OTHER_CHAT:
        return tr.gettext("Sorry, that vote button belongs to an answer in another chat.")
    return tr.gettext("Sorry, I no longer know that answer, so I cannot count a vote on it. Ask again to vote on a fresh one.")


def vote_failed(*, tr: Translator = ENGLISH) -> str:
    return tr.gettext("Sorry, I could not record your vote just now. Please try again later.")


def reason_prompt(*, tr: Translator = ENGLISH) -> str:
    return tr.gettext(
        "Sorry it did not help. If you like, <b>reply to this message</b> within a few minutes with what was "
        "wrong or missing (a sentence is plenty). The admins read these; it is optional."
    )


def reason_thanks(*, tr: Translator = ENGLISH) -> str:
    return tr.gettext("Thank you, noted. The admins will see it.")


def reason_failed(*, tr: Translator = ENGLISH) -> str:
    return tr.gettext("Sorry, I could not record that just now. Thank you for trying.")


def stats_private_only(*, tr: Translator = ENGLISH) -> str:
    return tr.gettext("Statistics are for the bot's admins: send /stats to me in a private chat.")


# ------------------------------------------------------------------ /stats


def _share(part: float | None, tr: Translator) -> str:
    return "–" if part is None else tr.percent(part)


def _period_line(period: Period, tr: Translator) -> str:
    if period.votes:
        votes = tr.ngettext(
            "{helpful} of {count} vote helpful ({share})",
            "{helpful} of {count} votes helpful ({share})",
            period.votes,
            helpful=period.helpful,
            count=period.votes,
            share=_share(period.helpful_share, tr),
        )
    else:
        votes = tr.gettext("no votes")
    questions = tr.ngettext("{count} question", "{count} questions", period.questions, count=period.questions)
    return tr.ngettext(
        "<b>Last {days} day:</b> {questions}, {answered} answered; {votes}.",
        "<b>Last {days} days:</b> {questions}, {answered} answered; {votes}.",
        period.days,
        days=period.days,
        questions=questions,
        answered=_share(period.answered_share, tr),
        votes=votes,
    )


def _group_line(n: int, group: QuestionGroup, tr: Translator) -> str:
    times = tr.gettext("once") if group.count == 1 else tr.gettext("{count}×", count=group.count)
    return tr.gettext(
        "{number}. “{question}” — {times}, last {date}",
        number=n,
        question=esc(shorten(group.question, QUOTE_CHARS)),
        times=times,
        date=f"{group.last_asked:%Y-%m-%d}",
    )


def _disputed_line(n: int, item: DisputedAnswer, tr: Translator) -> str:
    if item.page:
        where = tr.gettext("page {page}, paragraph {paragraph}", page=item.page, paragraph=item.paragraph)
    else:
        where = tr.gettext("paragraph {paragraph}", paragraph=item.paragraph)
    line = tr.gettext(
        "{number}. “{answer}” <i>({title}, {where})</i> — {unhelpful} not helpful, {helpful} helpful",
        number=n,
        answer=esc(shorten(item.answer, QUOTE_CHARS)),
        title=esc(shorten(item.title, 80)),
        where=where,
        unhelpful=item.unhelpful,
        helpful=item.helpful,
    )
    line += "\n    " + tr.gettext("asked as: “{question}”", question=esc(shorten(item.question, 100)))
    if item.reasons:
        reasons = "; ".join(tr.gettext("“{reason}”", reason=esc(shorten(r, 120))) for r in item.reasons)
        line += "\n    " + tr.gettext("reasons: {reasons}", reasons=reasons)
    return line


def _section(heading: str, lines: list[str]) -> list[str]:
    """A heading and its numbered lines as blocks that each fit one message (a long list is split by lines)."""
    return pack([heading] + lines, separator="\n")


def stats_messages(stats: Stats, *, tr: Translator = ENGLISH) -> list[str]:
    """The /stats report: counts per period, then the three lists (over ``stats.window`` days)."""
    blocks = [tr.gettext("<b>Bot statistics</b>") + "\n" + "\n".join(_period_line(p, tr) for p in stats.periods)]
    days = stats.window
    if not stats.log_questions:
        blocks.append(
            tr.gettext(
                "Question logging is off (<code>[privacy] log_questions = false</code>): no question text or cited "
                "document is stored, so there is no list of unanswered questions, cited documents or disputed answers."
            )
        )
        return pack(blocks)
    if stats.unanswered:
        blocks += _section(
            tr.ngettext(
                "<b>Unanswered questions, most asked</b> (last {days} day; near-duplicates counted together)",
                "<b>Unanswered questions, most asked</b> (last {days} days; near-duplicates counted together)",
                days,
                days=days,
            ),
            [_group_line(n, g, tr) for n, g in enumerate(stats.unanswered, 1)],
        )
    else:
        blocks.append(
            tr.ngettext(
                "<b>Unanswered questions:</b> none in the last {days} day.",
                "<b>Unanswered questions:</b> none in the last {days} days.",
                days,
                days=days,
            )
        )
    if stats.cited:
        blocks += _section(
            tr.ngettext("<b>Most cited documents</b> (last {days} day)", "<b>Most cited documents</b> (last {days} days)", days, days=days),
            [
                tr.gettext(
                    "{number}. {title} <i>({doc})</i> — {answers}",
                    number=n,
                    title=esc(shorten(d.title, 100)),
                    doc=esc(shorten(d.doc, 200)),
                    answers=tr.ngettext("{count} answer", "{count} answers", d.answers, count=d.answers),
                )
                for n, d in enumerate(stats.cited, 1)
            ],
        )
    if stats.disputed:
        blocks += _section(
            tr.ngettext(
                "<b>Answers voted not helpful</b> (last {days} day)", "<b>Answers voted not helpful</b> (last {days} days)", days, days=days
            ),
            [_disputed_line(n, a, tr) for n, a in enumerate(stats.disputed, 1)],
        )
    return pack(blocks)


def chart_caption(stats: Stats, *, tr: Translator = ENGLISH) -> str:
    answered = sum(d.answered for d in stats.daily)
    declined = sum(d.declined for d in stats.daily)
    days = len(stats.daily)
    return tr.ngettext(
        "Questions per day, last {days} day: {answered} answered, {declined} declined.",
        "Questions per day, last {days} days: {answered} answered, {declined} declined.",
        days,
        days=days,
        answered=answered,
        declined=declined,
    )


# ------------------------------------------------------------------ weekly report


def admin_report(period: Period, unanswered: list[QuestionGroup], log_questions: bool, *, tr: Translator = ENGLISH) -> list[str]:
    """The admins' weekly digest: last week's figures and the questions the documents did not answer."""
    blocks = [tr.gettext("<b>Weekly report</b>") + "\n" + _period_line(period, tr)]
    if not period.questions:
        pass
    elif not log_questions:
        blocks.append(tr.gettext("Question logging is off, so the unanswered questions are not known."))
    elif unanswered:
        blocks += _section(
            tr.gettext("<b>Asked but not answered</b> (the documents to add next)"),
            [_group_line(n, g, tr) for n, g in enumerate(unanswered, 1)],
        )
    else:
        blocks.append(tr.gettext("Every question this week was answered."))
    blocks.append(tr.gettext("/stats shows more."))
    return pack(blocks)
