"""Digests: which documents are new for a chat, when a digest is due, and its HTML.

Pure functions, tested without Telegram.  The job that posts digests lives in
``bot/digest_job.py``; state lives in ``bot/digest_store.py``.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.i18n import ENGLISH, Translator
from bot.render import MAX_LENGTH as MAX_TEXT, linked, tg_length
from core.text import shorten
from retrieval.summary import KeySentence

PAYLOAD_PREFIX = "doc_"


@dataclass(frozen=True)
class DigestItem:
    doc: str
    title: str
    sha256: str
    status: str  # "new" or "updated"
    sentences: tuple[KeySentence, ...] = ()
    source: str | None = None  # the original's URL (a link, a channel post), linked from the title


@dataclass(frozen=True)
class DigestMessage:
    html: str
    buttons: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (label, url)


def latest_slot(now: datetime, times: tuple[str, ...], tz_name: str) -> datetime:
    """The most recent scheduled time at or before ``now`` (aware, UTC)."""
    tz = ZoneInfo(tz_name)
    local = now.astimezone(tz)
    best = None
    for day in (local.date(), local.date() - timedelta(days=1)):
        for text in times:
            hour, minute = map(int, text.split(":"))
            candidate = datetime.combine(day, time(hour, minute), tzinfo=tz)
            if candidate <= local and (best is None or candidate > best):
                best = candidate
    assert best is not None  # some time of yesterday is always in the past
    return best.astimezone(timezone.utc)


def pending_documents(current: dict[str, tuple[str, str]], carried: dict[str, str]) -> list[DigestItem]:
    """Documents added or changed since the chat's digests last carried them, by name.

    Args:
        current: document -> (title, content hash) for the index now serving.
        carried: document -> content hash already sent to this chat.
    """
    items = []
    for doc, (title, sha) in sorted(current.items()):
        if carried.get(doc) == sha:
            continue
        items.append(DigestItem(doc, title, sha, "updated" if doc in carried else "new"))
    return items


def document_payload(doc: str) -> str:
    """A deep-link ``/start`` payload naming ``doc`` (Telegram allows [A-Za-z0-9_-], 64 chars)."""
    return PAYLOAD_PREFIX + hashlib.sha256(doc.encode("utf-8")).hexdigest()[:20]


def find_document(payload: str, documents: list[str]) -> str | None:
    """The document whose payload is ``payload``, if it is still indexed."""
    for doc in documents:
        if document_payload(doc) == payload:
            return doc
    return None


def deep_link(bot_username: str, doc: str) -> str:
    return f"https://t.me/{bot_username}?start={document_payload(doc)}"


def item_html(item: DigestItem, tr: Translator = ENGLISH) -> str:
    """One document as digests show it: badge and title, key sentences, where they are."""
    badge = "🆕" if item.status == "new" else "✏️"
    lines = [f"{badge} <b>{linked(html.escape(item.title), item.source)}</b>"]
    for sentence in item.sentences:
        lines.append(f"<blockquote>{html.escape(' '.join(sentence.text.split()))}</blockquote>")
    # A PDF's key sentences are found by page; other documents' by paragraph.
    pages = sorted({s.page for s in item.sentences if s.page})
    if pages:
        numbers = ", ".join(map(str, pages))
        where = tr.ngettext("page {numbers}", "pages {numbers}", len(pages), numbers=numbers)
    else:
        paragraphs = sorted({s.paragraph for s in item.sentences})
        numbers = ", ".join(map(str, paragraphs))
        where = tr.ngettext("paragraph {numbers}", "paragraphs {numbers}", len(paragraphs), numbers=numbers) if paragraphs else ""
    lines.append(f"<i>{html.escape(item.doc)}{', ' + where if where else ''}</i>")
    return "\n".join(lines)


def render_digest(items: list[DigestItem], more: int, bot_username: str | None, *, tr: Translator = ENGLISH) -> list[DigestMessage]:
    """Digest messages (each within 4096 UTF-16 units), with an "Ask about" link per document."""
    count = len(items) + more
    header = "📰 " + tr.ngettext(
        "<b>Digest</b>: {count} new or updated document", "<b>Digest</b>: {count} new or updated documents", count, count=count
    )
    blocks = [item_html(item, tr) for item in items]
    if more:
        # Translators: {count} documents not listed in this digest.
        blocks.append(
            "<i>"
            + tr.ngettext(
                "…and {count} more. Send /sources to the bot for the full list.",
                "…and {count} more. Send /sources to the bot for the full list.",
                more,
                count=more,
            )
            + "</i>"
        )
    messages: list[DigestMessage] = []
    text, buttons = header, []
    for i, block in enumerate(blocks):
        button = []
        if i < len(items) and bot_username:
            label = tr.gettext("Ask about {title}", title=shorten(items[i].title, 40))
            button = [(label, deep_link(bot_username, items[i].doc))]
        if i < len(items) and tg_length(block) + 2 > MAX_TEXT - tg_length(header):
            block = _trimmed(items[i], tr)  # one document alone too long: trim its quotes
        if tg_length(text) + 2 + tg_length(block) > MAX_TEXT:
            messages.append(DigestMessage(text, tuple(buttons)))
            text, buttons = block, []
        else:
            text += "\n\n" + block
        buttons.extend(button)
    messages.append(DigestMessage(text, tuple(buttons)))
    return messages


def _trimmed(item: DigestItem, tr: Translator) -> str:
    short = tuple(
        KeySentence(s.paragraph, s.start, s.end, shorten(s.text, 300), s.page) for s in item.sentences[:5]
    )
    return item_html(DigestItem(item.doc, item.title, item.sha256, item.status, short, item.source), tr)


def render_nothing_new(*, tr: Translator = ENGLISH) -> str:
    return "📰 " + tr.gettext("<b>Digest</b>: nothing new since the last one.")


def render_document_intro(
    title: str, doc: str, sentences: list[KeySentence], source: str | None = None, *, tr: Translator = ENGLISH
) -> str:
    """Reply to a deep link: the document's summary and an invitation to ask about it."""
    item = DigestItem(doc, title, "", "new", tuple(sentences))
    body = item_html(item, tr).split("\n", 1)[1] if sentences else f"<i>{html.escape(doc)}</i>"
    invitation = tr.gettext("Ask me anything about it: just send your question.")
    return f"📄 <b>{linked(html.escape(title), source)}</b>\n{body}\n\n{invitation}"
