"""Telegram HTML for documents added and removed through Telegram: pure functions, no I/O.

Usage::

    text = ingest_render.added(report)          # title, passages and key sentences of a new document
    text = ingest_render.not_a_document("budget.xlsx")

Every name, title, reason and URL is escaped; links go through ``render.linked`` (http and
https only).  A document is shown as digests show it (``digest.item_html``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.digest import DigestItem, item_html
from bot.render import MAX_LENGTH, esc, linked, tg_length
from core.text import shorten
from retrieval.summary import KeySentence

if TYPE_CHECKING:
    from index.build import BuildReport

READ_TYPES = "text files (.txt, .md), web pages (.html, .htm), PDFs and Word files (.docx)"
MB = 1024 * 1024


@dataclass(frozen=True)
class DocumentReport:
    """An indexed document as the bot reports it after adding it."""

    doc: str
    title: str
    passages: int
    sentences: tuple[KeySentence, ...]
    source: str | None
    status: str  # "added" or "changed"


def _name(name: str | None) -> str:
    return f"<b>{esc(shorten(name or 'this file', 120))}</b>"


def refused() -> str:
    return "Sorry, only the bot's admins can add documents. Ask one of them to add it for you."


def not_a_document(name: str | None) -> str:
    return f"I cannot add {_name(name)}: I read {READ_TYPES}. Nothing was downloaded."


def not_a_file(kind: str) -> str:
    return f"A {esc(kind)} is not a document I can read. Send a file instead: {READ_TYPES}."


def empty_file(name: str | None) -> str:
    return f"I cannot add {_name(name)}: the file is empty."


def too_large(name: str | None, size: int | None, limit: int, public_limit: int | None) -> str:
    """Why a file is not downloaded: over the Bot API's download limit, or over ``[seeds] max_file_mb`` (``limit`` bytes).

    ``size`` None: the Bot API refused the download as too big without saying the size.
    """
    if size is None and public_limit is not None:
        size_text, size = f"over {public_limit / 1e6:g} MB", public_limit + 1
    else:
        size_text = f"{(size or 0) / 1e6:.1f} MB"
    text = f"I cannot add {_name(name)}: it is {size_text}."
    allowed = f"Documents may {{}}be at most {limit / MB:g} MB ([seeds] max_file_mb)."
    if public_limit is not None and size > public_limit:
        text += (
            f" Telegram's public Bot API lets bots download files of up to {public_limit / 1e6:g} MB; a self-hosted "
            "Bot API server (telegram-bot-api, see the README) raises that limit to 2000 MB."
        )
        if size > limit:
            text += " " + allowed.format("also ")
    else:
        text += " " + allowed.format("")
    return text


def downloading(name: str | None) -> str:
    return f"Downloading {_name(name)}…"


def fetching(url: str) -> str:
    return f"Fetching {linked(esc(shorten(url, 200)), url)}…"


def saving_post() -> str:
    return "Adding the forwarded post…"


def queued() -> str:
    return "Saved. Waiting for the index build before this one to finish…"


def download_failed(name: str | None, why: str) -> str:
    return f"<b>Not added:</b> the download of {_name(name)} failed ({esc(why)}). Nothing was saved; please send it again."


def not_added(what: str, reason: str) -> str:
    """A document the bot refused, with the reason (unreadable, wrong type, unsafe link...)."""
    return f"<b>Not added:</b> {esc(shorten(what, 200))}: {esc(reason)}. Nothing was saved."


def skipped_by_build(doc: str, reason: str) -> str:
    return f"<b>Not added:</b> the index build skipped {esc(doc)}: {esc(reason)}."


def duplicate(doc: str, title: str | None) -> str:
    shown = f"<b>{esc(title)}</b> ({esc(doc)})" if title else f"<b>{esc(doc)}</b>"
    return f"Already indexed: this is the same content as {shown}. Nothing was added twice."


def unchanged(doc: str, title: str | None) -> str:
    shown = f"<b>{esc(title)}</b> ({esc(doc)})" if title else f"<b>{esc(doc)}</b>"
    return f"Already indexed, unchanged: {shown}."


def post_too_short(length: int, minimum: int) -> str:
    return (
        f"<b>Not added:</b> the post has {length} characters of text; posts need at least {minimum} "
        "([ingest] min_post_chars)."
    )


def _build_line(report: "BuildReport") -> str:
    return (
        f"The index now has {report.documents} document{'s' if report.documents != 1 else ''} and "
        f"{report.passages} passages ({report.embedded} embedded, {report.seconds:.1f} s)."
    )


def added(document: DocumentReport, report: "BuildReport") -> str:
    """The reply once a document is indexed: as a digest shows it, its passages, how to remove it."""
    label = "Added" if document.status == "added" else "Updated (replaces the previous version)"
    item = DigestItem(document.doc, document.title, "", "new" if document.status == "added" else "updated",
                      document.sentences, document.source)
    body = item_html(item)
    if tg_length(body) > MAX_LENGTH - 600:
        short = tuple(KeySentence(s.paragraph, s.start, s.end, shorten(s.text, 300), s.page) for s in document.sentences)
        body = item_html(DigestItem(item.doc, item.title, "", item.status, short, item.source))
    return (
        f"✅ <b>{label}</b>\n{body}\n"
        f"{document.passages} passage{'s' if document.passages != 1 else ''}. {_build_line(report)}\n"
        "Reply /forget to this message to remove it."
    )


def forgotten(doc: str, title: str | None, report: "BuildReport") -> str:
    shown = f"<b>{esc(title)}</b> ({esc(doc)})" if title else f"<b>{esc(doc)}</b>"
    return f"🗑 <b>Forgotten:</b> {shown} left the seeds folder and the index. {_build_line(report)}"


def forgetting(doc: str, title: str | None) -> str:
    shown = f"<b>{esc(title)}</b> ({esc(doc)})" if title else f"<b>{esc(doc)}</b>"
    return f"Forgetting {shown}…"


def forget_usage() -> str:
    return (
        "Which document? Reply <code>/forget</code> to the upload, the forwarded post or my report about it, "
        "or send <code>/forget 3</code> with its number in /sources (or its name or link)."
    )


def forget_unknown(what: str) -> str:
    return f"I know no document {esc(shorten(what, 200))}. /sources lists them with their numbers."


def forget_failed(doc: str, reason: str) -> str:
    return f"<b>Not forgotten:</b> {esc(doc)}: {esc(reason)}."


def add_usage() -> str:
    return "Send the link after the command, for example: <code>/add https://example.org/report.html</code>"
