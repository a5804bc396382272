"""Turn answers, reports and errors into Telegram HTML messages: pure functions, no I/O.

Usage::

    texts = render.answer_page(answer, page=0, page_size=3)   # list of messages, each <= 4096
    keyboard = render.answer_keyboard(key, answer, page=0, page_size=3)

Every piece of document or user text goes through ``html.escape``; every message
is built from self-contained blocks (all tags closed), and ``pack`` splits at
block boundaries only, so a split never cuts a tag.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import MessageLimit

from core.errors import (
    BuildError,
    ConfigError,
    DocQAError,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    ModelError,
)
from core.text import shorten
from retrieval.retriever import Answer, Extract

if TYPE_CHECKING:
    from index.build import BuildReport

MAX_LENGTH = MessageLimit.MAX_TEXT_LENGTH  # 4096
# Quotes longer than this (characters) are sent collapsed: Telegram shows the first lines.
EXPANDABLE_FROM = 400
# Callback data prefixes; the data is "<prefix>:<key>:<number>", far below 64 bytes.
MORE = "more"
# Room for the answer sentence (escaped) in the opening block.
ANSWER_BUDGET = 2500
PARAGRAPH = "para"


def tg_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units); counting raw HTML is conservative."""
    return len(text.encode("utf-16-le")) // 2


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def pack(blocks: Iterable[str], limit: int = MAX_LENGTH, separator: str = "\n\n") -> list[str]:
    """Join self-contained HTML blocks into as few messages as fit in ``limit``, in order."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        if tg_length(block) > limit:
            raise ValueError(f"block of {tg_length(block)} characters exceeds {limit}")
        candidate = current + separator + block if current else block
        if tg_length(candidate) <= limit:
            current = candidate
        else:
            messages.append(current)
            current = block
    if current:
        messages.append(current)
    return messages


def _pieces(text: str, budget: int) -> list[str]:
    """Cut ``text`` into pieces whose escaped form fits ``budget``, preferring whitespace."""
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        if tg_length(esc(rest)) <= budget:
            pieces.append(rest)
            break
        # Escaping can grow a character to 5 ("&amp;"); find the longest prefix that fits.
        low, high = 1, len(rest)
        while low < high:
            mid = (low + high + 1) // 2
            if tg_length(esc(rest[:mid])) <= budget:
                low = mid
            else:
                high = mid - 1
        cut = low
        space = rest.rfind(" ", cut // 2, cut)
        if space > 0:
            cut = space
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return pieces


def quote_blocks(heading: str, text: str, limit: int = MAX_LENGTH) -> list[str]:
    """``heading`` (HTML) over ``text`` (raw) in a blockquote; several blocks if it is too long."""
    text = " ".join(text.split())
    budget = limit - tg_length(heading) - 80  # room for tags and "(part i/n)"
    parts = _pieces(text, budget)
    if not parts:
        return [f"{heading}\n<i>(empty)</i>"]
    blocks = []
    for i, part in enumerate(parts, 1):
        head = heading if len(parts) == 1 else f"{heading} <i>(part {i}/{len(parts)})</i>"
        tag = "<blockquote expandable>" if len(part) > EXPANDABLE_FROM else "<blockquote>"
        blocks.append(f"{head}\n{tag}{esc(part)}</blockquote>")
    return blocks


def link_url(url: str | None) -> str | None:
    """``url`` if Telegram can show it as a link (absolute http or https, no spaces or control characters), else None.

    Characters that may not stand in a URL (quotes, angle brackets, ...) are percent-encoded.
    """
    if not url or len(url) > 2048 or any(ch.isspace() or not ch.isprintable() for ch in url):
        return None
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None
    except ValueError:  # e.g. a malformed IPv6 host
        return None
    return re.sub(r'["<>\\^`{|}]', lambda m: f"%{ord(m.group()):02X}", url)


def linked(text_html: str, url: str | None) -> str:
    """``text_html`` as a link to ``url`` when it is a safe http(s) URL; else unchanged."""
    url = link_url(url)
    return f'<a href="{html.escape(url, quote=True)}">{text_html}</a>' if url else text_html


def citation(extract: Extract) -> str:
    """The extract's title (a link to the original when it came with one) and its place in the document."""
    return f"{linked(esc(shorten(extract.title, 200)), extract.source)}, {extract.location}"


def extract_blocks(number: int, extract: Extract, answer: Extract | None = None) -> list[str]:
    """The numbered, cited extract; the answer sentence, when it lies inside, in bold."""
    heading = f"<b>[{number}]</b> {citation(extract)}"
    if answer is not None and answer.doc == extract.doc and extract.start <= answer.start < answer.end <= extract.end:
        block = _highlighted(heading, extract.text, answer.start - extract.start, answer.end - extract.start)
        if tg_length(block) <= MAX_LENGTH:
            return [block]
    return quote_blocks(heading, extract.text)


def _highlighted(heading: str, text: str, start: int, end: int) -> str:
    before, middle, after = text[:start], text[start:end], text[end:]
    lead = " ".join(before.split()) + (" " if before[-1:].isspace() else "")
    trail = (" " if after[:1].isspace() else "") + " ".join(after.split())
    body = f"{esc(lead.lstrip())}<b>{esc(' '.join(middle.split()))}</b>{esc(trail.rstrip())}"
    tag = "<blockquote expandable>" if len(text) > EXPANDABLE_FROM else "<blockquote>"
    return f"{heading}\n{tag}{body}</blockquote>"


def answer_head(answer: Answer) -> str:
    """The opening block: the answer sentence and its citation, or a plain "not answered"."""
    if answer.answered and answer.sentence:
        # A "sentence" can be a whole unpunctuated page; its full text is in extract [1] anyway.
        pieces = _pieces(" ".join(answer.sentence.text.split()), ANSWER_BUDGET)
        sentence = (esc(pieces[0]) if pieces else "") + ("…" if len(pieces) > 1 else "")
        return f"<b>Answer:</b> {sentence}\n<i>— {citation(answer.sentence)}</i>"
    asked = f" “{esc(shorten(answer.question, 300))}”" if answer.question else ""
    text = f"<b>Not answered:</b> nothing in the documents answers{asked} closely enough."
    if answer.extracts:
        text += "\nThe closest passages are below; they are <i>not</i> an answer."
    return text


def follow_up_note(previous_question: str) -> str:
    """The line saying a question was read as a follow-up, and to which question."""
    return f"<i>Taking this as a follow-up to: {esc(shorten(previous_question, 200))}</i>"


def pages(answer: Answer, page_size: int) -> int:
    return max(1, -(-len(answer.extracts) // page_size))


def answer_page(answer: Answer, page: int, page_size: int) -> list[str]:
    """Messages for one page of an answer: page 0 opens with the answer; later pages only extracts."""
    first = page * page_size
    shown = answer.extracts[first : first + page_size]
    blocks: list[str] = []
    if page == 0:
        if answer.context is not None:
            blocks.append(follow_up_note(answer.context.question))
        blocks.append(answer_head(answer))
        if shown and not answer.answered:
            blocks.append("<b>Closest passages</b>")
    else:
        label = "More extracts" if answer.answered else "More closest passages"
        blocks.append(f"<b>{label}</b> ({first + 1}–{first + len(shown)} of {len(answer.extracts)})")
    for n, extract in enumerate(shown, first + 1):
        blocks.extend(extract_blocks(n, extract, answer.sentence if answer.answered else None))
    return pack(blocks)


def answer_keyboard(key: str, answer: Answer, page: int, page_size: int) -> InlineKeyboardMarkup | None:
    """"Full paragraph" per extract on this page, and "More extracts" when another page exists."""
    first = page * page_size
    numbers = range(first, min(first + page_size, len(answer.extracts)))
    rows = []
    if numbers:
        rows.append(
            [InlineKeyboardButton(f"Full paragraph [{i + 1}]", callback_data=f"{PARAGRAPH}:{key}:{i}") for i in numbers]
        )
    if page + 1 < pages(answer, page_size):
        rows.append([InlineKeyboardButton("More extracts", callback_data=f"{MORE}:{key}:{page + 1}")])
    return InlineKeyboardMarkup(rows) if rows else None


def paragraph_messages(number: int, paragraph: Extract) -> list[str]:
    """The whole paragraph an extract came from."""
    return pack(quote_blocks(f"<b>[{number}]</b> {citation(paragraph)} <i>(full paragraph)</i>", paragraph.text))


def start_text(documents: int | None, bot_username: str | None) -> str:
    if documents is None:
        knows = "No index has been built yet, so I cannot answer questions until an admin runs /reindex."
    else:
        knows = f"I answer questions from <b>{documents}</b> document{'s' if documents != 1 else ''}"
        knows += " with sentences copied from them, each cited by document and paragraph."
    mention = f"@{esc(bot_username)}" if bot_username else "me"
    return (
        f"{knows}\n\n"
        "In this private chat, just send a question.\n"
        f"In a group, use /ask <i>question</i>, mention {mention}, or reply to one of my messages.\n\n"
        "/sources lists the documents; /help shows all commands."
    )


def help_text(bot_username: str | None) -> str:
    mention = f"@{esc(bot_username)}" if bot_username else "the bot"
    return (
        "<b>How to ask</b>\n"
        "Private chat: send any message; it is the question.\n"
        f"Groups: /ask <i>question</i>, a message mentioning {mention}, or a reply to one of my messages.\n\n"
        "Every answer is a sentence copied from the documents, followed by numbered extracts with "
        "their document and paragraph. When nothing answers, I say so and show the closest passages.\n"
        "<b>Full paragraph</b> shows the paragraph an extract comes from; <b>More extracts</b> shows the next ones.\n\n"
        "<b>👍 Helpful</b> / <b>👎 Not helpful</b> under an answer tell the admins how it did; only you see your vote.\n\n"
        "<b>Commands</b>\n"
        "/ask <i>question</i> – answer a question\n"
        "/sources – the documents I answer from\n"
        "/start – what I know\n"
        "/help – this message\n"
        "/subscribe, /unsubscribe – digests of new documents in a group (group admins)\n"
        "/digest – post this chat's digest now (bot admins)\n"
        "/reindex – re-read the documents (bot admins)\n"
        "/stats – questions, unanswered ones and votes (bot admins, private chat)\n"
        "/add <i>link</i> – add a web page, PDF, Word file or text (bot admins; a link or file sent here works too)\n"
        "/forget – remove a document: reply it to the upload or my report, or /forget <i>number</i> from /sources (bot admins)"
    )


def ask_usage() -> str:
    return "Ask a question after the command, for example: <code>/ask Who chaired the meeting?</code>"


def unknown_command() -> str:
    return "I do not know that command. Send a question as a message, or see /help."


def sources_messages(documents: Sequence[tuple[str, str]], sources: Mapping[str, str] | None = None) -> list[str]:
    """The numbered document list (the numbers ``/forget`` takes); titles link to their originals."""
    if not documents:
        return ["There are no documents in the index."]
    sources = sources or {}
    blocks = [f"<b>{len(documents)} document{'s' if len(documents) != 1 else ''}</b>"]
    blocks += [f"{n}. {linked(esc(title), sources.get(doc))} <i>({esc(doc)})</i>" for n, (doc, title) in enumerate(documents, 1)]
    return pack(blocks, separator="\n")


def refusal(command: str = "reindex") -> str:
    return f"Sorry, only the bot's admins can run /{command}."


def chat_admins_only(command: str) -> str:
    return f"Sorry, only this chat's administrators or the bot's admins can /{command}."


def groups_only(command: str) -> str:
    return f"/{command} works in groups: add me to a group and send it there."


def subscribed(changed: bool) -> str:
    if not changed:
        return "This chat already gets digests."
    return "Subscribed: this chat will get a digest of new and changed documents at the scheduled times."


def unsubscribed(changed: bool) -> str:
    return "Unsubscribed: no more digests here." if changed else "This chat was not getting digests."


def unknown_document_link() -> str:
    return "That link points to a document that is no longer indexed. /sources lists the current ones."


def reindex_busy(elsewhere: bool = False) -> str:
    if elsewhere:
        return "A reindex is already running (started on another replica of this bot); every replica answers from the new index when it is done."
    return "A reindex is already running; its status message will show when it is done."


def reindex_progress(done: int, total: int) -> str:
    if total <= 0:
        return "Reindexing: reading the documents…"
    return f"Reindexing: embedded {done} of {total} new or changed passages…"


def reindex_done(report: "BuildReport") -> str:
    """Final status of a successful /reindex from an ``index.build.BuildReport``."""
    lines = [
        f"<b>Reindex done</b> in {report.seconds:.1f} s.",
        f"Documents: {report.documents} ({len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.removed)} removed)",
        f"Passages: {report.passages} ({report.embedded} embedded)",
    ]
    named = (
        ("Added", report.added),
        ("Changed", report.changed),
        ("Removed", report.removed),
        ("Skipped (unreadable or not a document; the log says why)", [s.path for s in report.skipped]),
    )
    for label, names in named:
        if names:
            shown = ", ".join(esc(n) for n in names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
            lines.append(f"{label}: {shown}")
    text = "\n".join(lines)
    return text if tg_length(text) <= MAX_LENGTH else "\n".join(lines[:3])


def reindex_failed(error: Exception) -> str:
    message = esc(str(error))[:3000]
    return f"<b>Reindex failed:</b> {message}\nThe previous index is still answering questions."


def error_text(error: BaseException) -> str:
    """A short, true reply for an error raised while handling a message."""
    if isinstance(error, IndexNotFoundError):
        return "No index has been built yet, so I cannot answer. An admin can build it with /reindex."
    if isinstance(error, (IndexCorruptError, IndexMismatchError)):
        return "The index cannot be used right now (it needs rebuilding). An admin can fix it with /reindex."
    if isinstance(error, (ModelError, ConfigError, BuildError)):
        return "I cannot answer right now because of a setup problem; the admins can see the details in the log."
    if isinstance(error, DocQAError):
        return "I cannot answer that right now: " + esc(str(error))[:500]
    return "Sorry, something went wrong while handling that message. Please try again."


def plain(text: str) -> str:
    """The visible text of our HTML, for the plain-text fallback when Telegram rejects the HTML."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))
