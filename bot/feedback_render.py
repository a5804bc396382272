"""Vote buttons, vote acknowledgements, /stats and the admins' weekly report: pure functions, no I/O.

Usage::

    markup = with_votes(render.answer_keyboard(key, answer, 0, 3), answer_id)
    parse_vote("vote:812:0")                 # -> (812, False)
    texts = stats_messages(stats)            # HTML messages, each <= 4096

Every question, answer and reason quoted is user or document text: escaped.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.feedback import Vote
from bot.render import esc, pack
from bot.stats import DisputedAnswer, Period, QuestionGroup, Stats
from core.text import shorten

# Callback data "vote:<answer id>:<1|0>": under 30 bytes for any id SQLite or PostgreSQL makes.
VOTE = "vote"
HELPFUL_LABEL = "👍 Helpful"
UNHELPFUL_LABEL = "👎 Not helpful"
QUOTE_CHARS = 160  # questions and answers quoted in /stats


def vote_data(answer_id: int, helpful: bool) -> str:
    return f"{VOTE}:{answer_id}:{int(helpful)}"


def parse_vote(data: str | None) -> tuple[int, bool] | None:
    """(answer id, helpful) from a vote button's data, or None if it is not one we make."""
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != VOTE or parts[2] not in ("0", "1") or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2] == "1"


def with_votes(markup: InlineKeyboardMarkup | None, answer_id: int | None) -> InlineKeyboardMarkup | None:
    """``markup`` with a row of vote buttons added under it (unchanged when the answer was not logged)."""
    if answer_id is None:
        return markup
    row = (
        InlineKeyboardButton(HELPFUL_LABEL, callback_data=vote_data(answer_id, True)),
        InlineKeyboardButton(UNHELPFUL_LABEL, callback_data=vote_data(answer_id, False)),
    )
    rows = tuple(markup.inline_keyboard) if markup else ()
    return InlineKeyboardMarkup(rows + (row,))


def vote_ack(outcome: Vote, helpful: bool) -> str:
    """The private acknowledgement of a vote (an answerCallbackQuery notice: plain text, <= 200 characters)."""
    how = "helpful" if helpful else "not helpful"
    if outcome is Vote.RECORDED:
        return f"Thanks! Noted as {how}."
    if outcome is Vote.CHANGED:
        return f"Changed: your vote is now {how}."
    if outcome is Vote.UNCHANGED:
        return f"You already marked this answer {how}; it counts once."
    if outcome is Vote.OTHER_CHAT:
        return "Sorry, that vote button belongs to an answer in another chat."
    return "Sorry, I no longer know that answer, so I cannot count a vote on it. Ask again to vote on a fresh one."


def vote_failed() -> str:
    return "Sorry, I could not record your vote just now. Please try again later."


def reason_prompt() -> str:
    return (
        "Sorry it did not help. If you like, <b>reply to this message</b> within a few minutes with what was "
        "wrong or missing (a sentence is plenty). The admins read these; it is optional."
    )


def reason_thanks() -> str:
    return "Thank you, noted. The admins will see it."


def reason_failed() -> str:
    return "Sorry, I could not record that just now. Thank you for trying."


def stats_private_only() -> str:
    return "Statistics are for the bot's admins: send /stats to me in a private chat."


# ------------------------------------------------------------------ /stats


def _share(part: float | None) -> str:
    return "–" if part is None else f"{part:.0%}"


def _period_line(period: Period) -> str:
    votes = (
        f"{period.helpful} of {period.votes} vote{'s' if period.votes != 1 else ''} helpful ({_share(period.helpful_share)})"
        if period.votes
        else "no votes"
    )
    return (
        f"<b>Last {period.days} days:</b> {period.questions} question{'s' if period.questions != 1 else ''}, "
        f"{_share(period.answered_share)} answered; {votes}."
    )


def _group_line(n: int, group: QuestionGroup) -> str:
    times = f"{group.count}×" if group.count > 1 else "once"
    return f"{n}. “{esc(shorten(group.question, QUOTE_CHARS))}” — {times}, last {group.last_asked:%Y-%m-%d}"


def _disputed_line(n: int, item: DisputedAnswer) -> str:
    where = f"page {item.page}, paragraph {item.paragraph}" if item.page else f"paragraph {item.paragraph}"
    line = (
        f"{n}. “{esc(shorten(item.answer, QUOTE_CHARS))}” <i>({esc(shorten(item.title, 80))}, {where})</i> — "
        f"{item.unhelpful} not helpful, {item.helpful} helpful\n    asked as: “{esc(shorten(item.question, 100))}”"
    )
    if item.reasons:
        line += "\n    reasons: " + "; ".join(f"“{esc(shorten(r, 120))}”" for r in item.reasons)
    return line


def _section(heading: str, lines: list[str]) -> list[str]:
    """A heading and its numbered lines as blocks that each fit one message (a long list is split by lines)."""
    return pack([heading] + lines, separator="\n")


def stats_messages(stats: Stats) -> list[str]:
    """The /stats report: counts per period, then the three lists (over ``stats.window`` days)."""
    blocks = ["<b>Bot statistics</b>\n" + "\n".join(_period_line(p) for p in stats.periods)]
    window = f"last {stats.window} days"
    if not stats.log_questions:
        blocks.append(
            "Question logging is off (<code>[privacy] log_questions = false</code>): no question text or cited "
            "document is stored, so there is no list of unanswered questions, cited documents or disputed answers."
        )
        return pack(blocks)
    if stats.unanswered:
        blocks += _section(
            f"<b>Unanswered questions, most asked</b> ({window}; near-duplicates counted together)",
            [_group_line(n, g) for n, g in enumerate(stats.unanswered, 1)],
        )
    else:
        blocks.append(f"<b>Unanswered questions:</b> none in the {window}.")
    if stats.cited:
        blocks += _section(
            f"<b>Most cited documents</b> ({window})",
            [
                f"{n}. {esc(shorten(d.title, 100))} <i>({esc(shorten(d.doc, 200))})</i> — "
                f"{d.answers} answer{'s' if d.answers != 1 else ''}"
                for n, d in enumerate(stats.cited, 1)
            ],
        )
    if stats.disputed:
        blocks += _section(
            f"<b>Answers voted not helpful</b> ({window})",
            [_disputed_line(n, a) for n, a in enumerate(stats.disputed, 1)],
        )
    return pack(blocks)


def chart_caption(stats: Stats) -> str:
    answered = sum(d.answered for d in stats.daily)
    declined = sum(d.declined for d in stats.daily)
    return f"Questions per day, last {len(stats.daily)} days: {answered} answered, {declined} declined."


# ------------------------------------------------------------------ weekly report


def admin_report(period: Period, unanswered: list[QuestionGroup], log_questions: bool) -> list[str]:
    """The admins' weekly digest: last week's figures and the questions the documents did not answer."""
    blocks = ["<b>Weekly report</b>\n" + _period_line(period)]
    if not period.questions:
        pass
    elif not log_questions:
        blocks.append("Question logging is off, so the unanswered questions are not known.")
    elif unanswered:
        blocks += _section(
            "<b>Asked but not answered</b> (the documents to add next)",
            [_group_line(n, g) for n, g in enumerate(unanswered, 1)],
        )
    else:
        blocks.append("Every question this week was answered.")
    blocks.append("/stats shows more.")
    return pack(blocks)
