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
from bot.i18n import ENGLISH, Catalogs, Choice, Reason, Translator
from core.text import shorten
from retrieval.confidence import TENTATIVE
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


def quote_blocks(heading: str, text: str, limit: int = MAX_LENGTH, *, tr: Translator = ENGLISH) -> list[str]:
    """``heading`` (HTML) over ``text`` (raw) in a blockquote; several blocks if it is too long."""
    text = " ".join(text.split())
    budget = limit - tg_length(heading) - 80  # room for tags and "(part i/n)"
    parts = _pieces(text, budget)
    if not parts:
        return [heading + "\n<i>" + tr.gettext("(empty)") + "</i>"]
    blocks = []
    for i, part in enumerate(parts, 1):
        head = heading
        if len(parts) > 1:
            head += " <i>" + tr.gettext("(part {part}/{parts})", part=i, parts=len(parts)) + "</i>"
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


def location(extract: Extract, *, tr: Translator = ENGLISH) -> str:
    """Where to find ``extract`` in its document: "paragraph 4", or "page 2, paragraph 4" in a PDF."""
    if extract.page:
        return tr.gettext("page {page}, paragraph {paragraph}", page=extract.page, paragraph=extract.paragraph)
    return tr.gettext("paragraph {paragraph}", paragraph=extract.paragraph)


def citation(extract: Extract, *, tr: Translator = ENGLISH) -> str:
    """The extract's title (a link to the original when it came with one) and its place in the document."""
    return f"{linked(esc(shorten(extract.title, 200)), extract.source)}, {location(extract, tr=tr)}"


def extract_blocks(number: int, extract: Extract, answer: Extract | None = None, *, tr: Translator = ENGLISH) -> list[str]:
    """The numbered, cited extract; the answer sentence, when it lies inside, in bold."""
    heading = f"<b>[{number}]</b> {citation(extract, tr=tr)}"
    if answer is not None and answer.doc == extract.doc and extract.start <= answer.start < answer.end <= extract.end:
        block = _highlighted(heading, extract.text, answer.start - extract.start, answer.end - extract.start)
        if tg_length(block) <= MAX_LENGTH:
            return [block]
    return quote_blocks(heading, extract.text, tr=tr)


def _highlighted(heading: str, text: str, start: int, end: int) -> str:
    before, middle, after = text[:start], text[start:end], text[end:]
    lead = " ".join(before.split()) + (" " if before[-1:].isspace() else "")
    trail = (" " if after[:1].isspace() else "") + " ".join(after.split())
    body = f"{esc(lead.lstrip())}<b>{esc(' '.join(middle.split()))}</b>{esc(trail.rstrip())}"
    tag = "<blockquote expandable>" if len(text) > EXPANDABLE_FROM else "<blockquote>"
    return f"{heading}\n{tag}{body}</blockquote>"


def answer_head(answer: Answer, *, tr: Translator = ENGLISH) -> str:
    """The opening block: the answer sentence and its citation, or a plain "not answered"."""
    if answer.answered and answer.sentence:
        # A "sentence" can be a whole unpunctuated page; its full text is in extract [1] anyway.
        pieces = _pieces(" ".join(answer.sentence.text.split()), ANSWER_BUDGET)
        sentence = (esc(pieces[0]) if pieces else "") + ("…" if len(pieces) > 1 else "")
        head = tr.gettext("<b>Answer:</b> {sentence}", sentence=sentence) + f"\n<i>— {citation(answer.sentence, tr=tr)}</i>"
        caution = confidence_caution(answer, tr=tr)
        return head + (f"\n<b>{caution}</b>" if caution else "")
    if answer.question:
        text = tr.gettext(
            "<b>Not answered:</b> nothing in the documents answers “{question}” closely enough.",
            question=esc(shorten(answer.question, 300)),
        )
    else:
        text = tr.gettext("<b>Not answered:</b> nothing in the documents answers this closely enough.")
    if answer.extracts:
        text += "\n" + tr.gettext("The closest passages are below; they are <i>not</i> an answer.")
    return text


def confidence_caution(answer: Answer, *, tr: Translator = ENGLISH) -> str | None:
    """How sure the bot is, for an answer below ``[retrieval] high_confidence``; None otherwise.

    The level comes from ``retrieval.confidence``; the English words are its
    ``confidence_label`` (the terminal's and --json's), written here as a literal so that
    the catalogs can translate them (tests/test_evidence.py keeps the two the same).
    """
    if answer.confidence_level != TENTATIVE:
        return None
    return tr.gettext("Possibly not an answer: the closest match found; check it against the passages.")


def follow_up_note(previous_question: str, *, tr: Translator = ENGLISH) -> str:
    """The line saying a question was read as a follow-up, and to which question."""
    return tr.gettext("<i>Taking this as a follow-up to: {question}</i>", question=esc(shorten(previous_question, 200)))


def pages(answer: Answer, page_size: int) -> int:
    return max(1, -(-len(answer.extracts) // page_size))


def answer_page(answer: Answer, page: int, page_size: int, *, tr: Translator = ENGLISH) -> list[str]:
    """Messages for one page of an answer: page 0 opens with the answer; later pages only extracts."""
    first = page * page_size
    shown = answer.extracts[first : first + page_size]
    blocks: list[str] = []
    if page == 0:
        if answer.context is not None:
            blocks.append(follow_up_note(answer.context.question, tr=tr))
        blocks.append(answer_head(answer, tr=tr))
        if shown and not answer.answered:
            blocks.append(tr.gettext("<b>Closest passages</b>"))
    else:
        span = {"first": first + 1, "last": first + len(shown), "total": len(answer.extracts)}
        if answer.answered:
            blocks.append(tr.gettext("<b>More extracts</b> ({first}–{last} of {total})", **span))
        else:
            blocks.append(tr.gettext("<b>More closest passages</b> ({first}–{last} of {total})", **span))
    for n, extract in enumerate(shown, first + 1):
        blocks.extend(extract_blocks(n, extract, answer.sentence if answer.answered else None, tr=tr))
    return pack(blocks)


def answer_keyboard(key: str, answer: Answer, page: int, page_size: int, *, tr: Translator = ENGLISH) -> InlineKeyboardMarkup | None:
    """"Full paragraph" per extract on this page, and "More extracts" when another page exists."""
    first = page * page_size
    numbers = range(first, min(first + page_size, len(answer.extracts)))
    rows = []
    if numbers:
        rows.append(
            [
                InlineKeyboardButton(tr.gettext("Full paragraph [{number}]", number=i + 1), callback_data=f"{PARAGRAPH}:{key}:{i}")
                for i in numbers
            ]
        )
    if page + 1 < pages(answer, page_size):
        rows.append([InlineKeyboardButton(tr.pgettext("button", "More extracts"), callback_data=f"{MORE}:{key}:{page + 1}")])
    return InlineKeyboardMarkup(rows) if rows else None


def paragraph_messages(number: int, paragraph: Extract, *, tr: Translator = ENGLISH) -> list[str]:
    """The whole paragraph an extract came from."""
    heading = f"<b>[{number}]</b> {citation(paragraph, tr=tr)} <i>" + tr.gettext("(full paragraph)") + "</i>"
    return pack(quote_blocks(heading, paragraph.text, tr=tr))


def start_text(documents: int | None, bot_username: str | None, *, tr: Translator = ENGLISH) -> str:
    if documents is None:
        knows = tr.gettext("No index has been built yet, so I cannot answer questions until an admin runs /reindex.")
    else:
        knows = tr.ngettext(
            "I answer questions from <b>{count}</b> document with sentences copied from it, "
            "each cited by document and paragraph.",
            "I answer questions from <b>{count}</b> documents with sentences copied from them, "
            "each cited by document and paragraph.",
            documents,
            count=documents,
        )
    if bot_username:
        # Translators: {mention} is the bot's @username.
        group = tr.gettext(
            "In a group, use /ask <i>question</i>, mention {mention}, or reply to one of my messages.",
            mention=f"@{esc(bot_username)}",
        )
    else:
        group = tr.gettext("In a group, use /ask <i>question</i>, mention me, or reply to one of my messages.")
    private = tr.gettext("In this private chat, just send a question.")
    more = tr.gettext("/sources lists the documents; /help shows all commands.")
    return f"{knows}\n\n{private}\n{group}\n\n{more}"


def help_text(bot_username: str | None, *, tr: Translator = ENGLISH) -> str:
    if bot_username:
        # Translators: {mention} is the bot's @username.
        groups = tr.gettext(
            "Groups: /ask <i>question</i>, a message mentioning {mention}, or a reply to one of my messages.",
            mention=f"@{esc(bot_username)}",
        )
    else:
        groups = tr.gettext("Groups: /ask <i>question</i>, a message mentioning the bot, or a reply to one of my messages.")
    lines = [
        tr.gettext("<b>How to ask</b>"),
        tr.gettext("Private chat: send any message; it is the question."),
        groups,
        "",
        tr.gettext(
            "Every answer is a sentence copied from the documents, followed by numbered extracts with "
            "their document and paragraph. When nothing answers, I say so and show the closest passages."
        ),
        # Translators: the names in bold are the buttons' labels ("Full paragraph [1]", "More extracts").
        tr.gettext("<b>Full paragraph</b> shows the paragraph an extract comes from; <b>More extracts</b> shows the next ones."),
        "",
        # Translators: the names in bold are the vote buttons' labels.
        tr.gettext("<b>👍 Helpful</b> / <b>👎 Not helpful</b> under an answer tell the admins how it did; only you see your vote."),
        "",
        tr.gettext("<b>Commands</b>"),
        tr.gettext("/ask <i>question</i> – answer a question"),
        tr.gettext("/sources – the documents I answer from"),
        tr.gettext("/start – what I know"),
        tr.gettext("/help – this message"),
        tr.gettext("/language – the language I answer in (group admins choose a group's)"),
        tr.gettext("/subscribe, /unsubscribe – digests of new documents in a group (group admins)"),
        tr.gettext("/digest – post this chat's digest now (bot admins)"),
        tr.gettext("/reindex – re-read the documents (bot admins)"),
        tr.gettext("/stats – questions, unanswered ones and votes (bot admins, private chat)"),
        tr.gettext("/add <i>link</i> – add a web page, PDF, Word file or text (bot admins; a link or file sent here works too)"),
        tr.gettext(
            "/forget – remove a document: reply it to the upload or my report, or /forget <i>number</i> from /sources (bot admins)"
        ),
    ]
    return "\n".join(lines)


def ask_usage(*, tr: Translator = ENGLISH) -> str:
    # Translators: the example question after /ask is yours to choose; keep <code>/ask …</code>.
    return tr.gettext("Ask a question after the command, for example: <code>/ask Who chaired the meeting?</code>")


def unknown_command(*, tr: Translator = ENGLISH) -> str:
    return tr.gettext("I do not know that command. Send a question as a message, or see /help.")


def sources_messages(
    documents: Sequence[tuple[str, str]], sources: Mapping[str, str] | None = None, *, tr: Translator = ENGLISH
) -> list[str]:
    """The numbered document list (the numbers ``/forget`` takes); titles link to their originals."""
    if not documents:
        return [tr.gettext("There are no documents in the index.")]
    sources = sources or {}
    blocks = [tr.ngettext("<b>{count} document</b>", "<b>{count} documents</b>", len(documents), count=len(documents))]
    blocks += [f"{n}. {linked(esc(title), sources.get(doc))} <i>({esc(doc)})</i>" for n, (doc, title) in enumerate(documents, 1)]
    return pack(blocks, separator="\n")


def refusal(command: str = "reindex", *, tr: Translator = ENGLISH) -> str:
    return tr.gettext("Sorry, only the bot's admins can run {command}.", command=f"/{command}")


def chat_admins_only(command: str, *, tr: Translator = ENGLISH) -> str:
    return tr.gettext("Sorry, only this chat's administrators or the bot's admins can {command}.", command=f"/{command}")


def groups_only(command: str, *, tr: Translator = ENGLISH) -> str:
    return tr.gettext("{command} works in groups: add me to a group and send it there.", command=f"/{command}")


def subscribed(changed: bool, *, tr: Translator = ENGLISH) -> str:
    if not changed:
        return tr.gettext("This chat already gets digests.")
    return tr.gettext("Subscribed: this chat will get a digest of new and changed documents at the scheduled times.")


def unsubscribed(changed: bool, *, tr: Translator = ENGLISH) -> str:
    if changed:
        return tr.gettext("Unsubscribed: no more digests here.")
    return tr.gettext("This chat was not getting digests.")


def unknown_document_link(*, tr: Translator = ENGLISH) -> str:
    return tr.gettext("That link points to a document that is no longer indexed. /sources lists the current ones.")


def _language_list(catalogs: Catalogs) -> str:
    return ", ".join(f"{esc(catalogs.name(code))} ({esc(code)})" for code in catalogs.languages)


def language_status(choice: Choice, catalogs: Catalogs, *, private: bool, tr: Translator = ENGLISH) -> str:
    """/language alone: the language of this chat, why, the others, and how to choose."""
    name = esc(catalogs.name(choice.language))
    if choice.reason is Reason.CHOSEN:
        why = tr.gettext("I speak <b>{language}</b> in this chat: it was chosen with /language.", language=name)
    elif choice.reason is Reason.GROUP:
        why = tr.gettext("I speak <b>{language}</b> in this chat: the bot's setting for groups.", language=name)
    elif private and choice.reason is Reason.USER:
        why = tr.gettext("I speak <b>{language}</b> here: the language of your Telegram app.", language=name)
    elif private:
        why = tr.gettext("I speak <b>{language}</b> here: I have no texts in your Telegram app's language.", language=name)
    else:
        why = tr.gettext(
            "In this chat I answer everyone in the language of their Telegram app, or in English when I have no "
            "texts in it: <b>{language}</b> for you.",
            language=name,
        )
    example = next((code for code in catalogs.languages if code != choice.language), choice.language)
    lines = [
        why,
        tr.gettext("Languages I speak: {languages}.", languages=_language_list(catalogs)),
        tr.gettext(
            "To choose one: /language <i>code</i>, for example <code>/language {example}</code>; "
            "<code>/language auto</code> goes back to the default.",
            example=esc(example),
        ),
    ]
    if not private:
        lines.append(tr.gettext("In a group, only its administrators can choose."))
    return "\n".join(lines)


def language_changed(choice: Choice, catalogs: Catalogs, *, private: bool, tr: Translator = ENGLISH) -> str:
    """After /language CODE (``tr`` already speaks it) or /language auto."""
    if choice.reason is Reason.CHOSEN:
        return tr.gettext("Done: I speak <b>{language}</b> in this chat now.", language=esc(catalogs.name(choice.language)))
    return tr.gettext("Done: back to the default.") + "\n" + language_status(choice, catalogs, private=private, tr=tr)


def language_unknown(wanted: str, catalogs: Catalogs, *, tr: Translator = ENGLISH) -> str:
    return tr.gettext(
        "I have no texts in “{wanted}”. Languages I speak: {languages}.",
        wanted=esc(shorten(wanted, 40)),
        languages=_language_list(catalogs),
    )


def answer_forgotten(*, tr: Translator = ENGLISH) -> str:
    """A button whose answer is gone (a callback notice: plain text, at most 200 characters)."""
    return tr.gettext("That answer is no longer in my memory; please ask again.")


def document_changed(*, tr: Translator = ENGLISH) -> str:
    """"Full paragraph" on a document changed since (a callback notice: plain text, at most 200 characters)."""
    return tr.gettext("That document has changed since; please ask again.")


def reindex_busy(elsewhere: bool = False, *, tr: Translator = ENGLISH) -> str:
    if elsewhere:
        return tr.gettext(
            "A reindex is already running (started on another replica of this bot); "
            "every replica answers from the new index when it is done."
        )
    return tr.gettext("A reindex is already running; its status message will show when it is done.")


def reindex_progress(done: int, total: int, *, tr: Translator = ENGLISH) -> str:
    if total <= 0:
        return tr.gettext("Reindexing: reading the documents…")
    return tr.ngettext(
        "Reindexing: embedded {done} of {total} new or changed passage…",
        "Reindexing: embedded {done} of {total} new or changed passages…",
        total,
        done=done,
        total=total,
    )


def _names(names: Sequence[str], tr: Translator) -> str:
    shown = ", ".join(esc(n) for n in names[:10])
    if len(names) > 10:
        rest = len(names) - 10
        shown += " " + tr.ngettext("and {count} more", "and {count} more", rest, count=rest)
    return shown


def reindex_done(report: "BuildReport", *, tr: Translator = ENGLISH) -> str:
    """Final status of a successful /reindex from an ``index.build.BuildReport``."""
    lines = [
        tr.gettext("<b>Reindex done</b> in {seconds} s.", seconds=tr.decimal(report.seconds)),
        tr.gettext(
            "Documents: {documents} ({added} added, {changed} changed, {removed} removed)",
            documents=report.documents,
            added=len(report.added),
            changed=len(report.changed),
            removed=len(report.removed),
        ),
        tr.gettext("Passages: {passages} ({embedded} embedded)", passages=report.passages, embedded=report.embedded),
    ]
    if report.added:
        lines.append(tr.gettext("Added: {names}", names=_names(report.added, tr)))
    if report.changed:
        lines.append(tr.gettext("Changed: {names}", names=_names(report.changed, tr)))
    if report.removed:
        lines.append(tr.gettext("Removed: {names}", names=_names(report.removed, tr)))
    if report.skipped:
        skipped = _names([s.path for s in report.skipped], tr)
        lines.append(tr.gettext("Skipped (unreadable or not a document; the log says why): {names}", names=skipped))
    text = "\n".join(lines)
    return text if tg_length(text) <= MAX_LENGTH else "\n".join(lines[:3])


def reindex_failed(error: Exception, *, tr: Translator = ENGLISH) -> str:
    return tr.gettext(
        "<b>Reindex failed:</b> {error}\nThe previous index is still answering questions.", error=esc(str(error))[:3000]
    )


def error_text(error: BaseException, *, tr: Translator = ENGLISH) -> str:
    """A short, true reply for an error raised while handling a message."""
    if isinstance(error, IndexNotFoundError):
        return tr.gettext("No index has been built yet, so I cannot answer. An admin can build it with /reindex.")
    if isinstance(error, (IndexCorruptError, IndexMismatchError)):
        return tr.gettext("The index cannot be used right now (it needs rebuilding). An admin can fix it with /reindex.")
    if isinstance(error, (ModelError, ConfigError, BuildError)):
        return tr.gettext("I cannot answer right now because of a setup problem; the admins can see the details in the log.")
    if isinstance(error, DocQAError):
        # Translators: {error} is a technical detail, in English.
        return tr.gettext("I cannot answer that right now: {error}", error=esc(str(error))[:500])
    return tr.gettext("Sorry, something went wrong while handling that message. Please try again.")


def plain(text: str) -> str:
    """The visible text of our HTML, for the plain-text fallback when Telegram rejects the HTML."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))
