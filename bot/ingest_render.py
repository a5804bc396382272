"""Telegram HTML for documents added and removed through Telegram: pure functions, no I/O.

Usage::

    text = ingest_render.added(report, build, tr=tr)   # title, passages and key sentences of a new document
    text = ingest_render.not_a_document("budget.xlsx", tr=tr)

Every name, title, reason and URL is escaped; links go through ``render.linked`` (http and
https only).  A document is shown as digests show it (``digest.item_html``).  The bot's own
words come in ``tr``'s language (``bot.i18n``); reasons from ``index.ingest`` and
``index.fetch`` (why a file or link was refused) are technical details, in English.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.digest import DigestItem, item_html
from bot.i18n import ENGLISH, Translator
from bot.render import MAX_LENGTH, esc, linked, tg_length
from core.text import shorten
from retrieval.summary import KeySentence

if TYPE_CHECKING:
    from index.build import BuildReport

MB = 1024 * 1024
# What media_message says a message was, by the attribute that holds it (see not_a_file).
MEDIA_KINDS = ("photo", "video", "animation", "voice", "video_note", "audio")


@dataclass(frozen=True)
class DocumentReport:
    """An indexed document as the bot reports it after adding it."""

    doc: str
    title: str
    passages: int
    sentences: tuple[KeySentence, ...]
    source: str | None
    status: str  # "added" or "changed"


def read_types(tr: Translator = ENGLISH) -> str:
    return tr.gettext("text files (.txt, .md), web pages (.html, .htm), PDFs and Word files (.docx)")


def _name(name: str | None, tr: Translator) -> str:
    shown = name or tr.gettext("this file")
    return f"<b>{esc(shorten(shown, 120))}</b>"


def _document(doc: str, title: str | None) -> str:
    return f"<b>{esc(title)}</b> ({esc(doc)})" if title else f"<b>{esc(doc)}</b>"


def _mb(tr: Translator, size: float) -> str:
    """Megabytes as "20" or "2.5" (the language's decimal sign)."""
    return tr.decimal(size, 0 if float(size).is_integer() else 1)


def refused(*, tr: Translator = ENGLISH) -> str:
    return tr.gettext("Sorry, only the bot's admins can add documents. Ask one of them to add it for you.")


def not_a_document(name: str | None, *, tr: Translator = ENGLISH) -> str:
    return tr.gettext("I cannot add {name}: I read {types}. Nothing was downloaded.", name=_name(name, tr), types=read_types(tr))


def not_a_file(kind: str, *, tr: Translator = ENGLISH) -> str:
    """A photo, video, ... (``kind``: one of ``MEDIA_KINDS``) sent where a document was expected."""
    labels = {
        "photo": tr.pgettext("media", "A photo"),
        "video": tr.pgettext("media", "A video"),
        "animation": tr.pgettext("media", "An animation"),
        "voice": tr.pgettext("media", "A voice message"),
        "video_note": tr.pgettext("media", "A video message"),
        "audio": tr.pgettext("media", "An audio file"),
    }
    label = labels.get(kind) or tr.pgettext("media", "A media message")
    return tr.gettext("{kind} is not a document I can read. Send a file instead: {types}.", kind=esc(label), types=read_types(tr))


def empty_file(name: str | None, *, tr: Translator = ENGLISH) -> str:
    return tr.gettext("I cannot add {name}: the file is empty.", name=_name(name, tr))


def too_large(name: str | None, size: int | None, limit: int, public_limit: int | None, *, tr: Translator = ENGLISH) -> str:
    """Why a file is not downloaded: over the Bot API's download limit, or over ``[seeds] max_file_mb`` (``limit`` bytes).

    ``size`` None: the Bot API refused the download as too big without saying the size.
    """
    if size is None and public_limit is not None:
        size_text, size = tr.gettext("over {size} MB", size=_mb(tr, public_limit / 1e6)), public_limit + 1
    else:
        size_text = tr.gettext("{size} MB", size=tr.decimal((size or 0) / 1e6))
    text = tr.gettext("I cannot add {name}: it is {size}.", name=_name(name, tr), size=size_text)
    if public_limit is not None and size > public_limit:
        text += " " + tr.gettext(
            "Telegram's public Bot API lets bots download files of up to {size} MB; a self-hosted Bot API server "
            "(telegram-bot-api, see the README) raises that limit to 2000 MB.",
            size=_mb(tr, public_limit / 1e6),
        )
        if size > limit:
            text += " " + tr.gettext("Documents may also be at most {size} MB ([seeds] max_file_mb).", size=_mb(tr, limit / MB))
    else:
        text += " " + tr.gettext("Documents may be at most {size} MB ([seeds] max_file_mb).", size=_mb(tr, limit / MB))
    return text


def downloading(name: str | None, *, tr: Translator = ENGLISH) -> str:
    return tr.gettext("Downloading {name}…", name=_name(name, tr))


def fetching(url: str, *, tr: Translator = ENGLISH) -> str:
    return tr.gettext("Fetching {url}…", url=linked(esc(shorten(url, 200)), url))


def saving_post(*, tr: Translator = ENGLISH) -> str:
    return tr.gettext("Adding the forwarded post…")


def queued(*, tr: Translator = ENGLISH) -> str:
    return tr.gettext("Saved. Waiting for the index build before this one to finish…")


def download_failed(name: str | None, why: str, *, tr: Translator = ENGLISH) -> str:
    return tr.gettext(
        "<b>Not added:</b> the download of {name} failed ({why}). Nothing was saved; please send it again.",
        name=_name(name, tr),
        why=esc(why),
    )


def not_added(what: str, reason: str, *, tr: Translator = ENGLISH) -> str:
    """A document the bot refused, with the reason (unreadable, wrong type, unsafe link...)."""
    return tr.gettext("<b>Not added:</b> {what}: {reason}. Nothing was saved.", what=esc(shorten(what, 200)), reason=esc(reason))


def skipped_by_build(doc: str, reason: str, *, tr: Translator = ENGLISH) -> str:
    return tr.gettext("<b>Not added:</b> the index build skipped {document}: {reason}.", document=esc(doc), reason=esc(reason))


def duplicate(doc: str, title: str | None, *, tr: Translator = ENGLISH) -> str:
    return tr.gettext(
        "Already indexed: this is the same content as {document}. Nothing was added twice.", document=_document(doc, title)
    )


def unchanged(doc: str, title: str | None, *, tr: Translator = ENGLISH) -> str:
    return tr.gettext("Already indexed, unchanged: {document}.", document=_document(doc, title))


def post_too_short(length: int, minimum: int, *, tr: Translator = ENGLISH) -> str:
    return tr.ngettext(
        "<b>Not added:</b> the post has {length} character of text; posts need at least {minimum} ([ingest] min_post_chars).",
        "<b>Not added:</b> the post has {length} characters of text; posts need at least {minimum} ([ingest] min_post_chars).",
        length,
        length=length,
        minimum=minimum,
    )


def _build_line(report: "BuildReport", tr: Translator) -> str:
    passages = tr.ngettext("{count} passage", "{count} passages", report.passages, count=report.passages)
    return tr.ngettext(
        "The index now has {count} document and {passages} ({embedded} embedded, {seconds} s).",
        "The index now has {count} documents and {passages} ({embedded} embedded, {seconds} s).",
        report.documents,
        count=report.documents,
        passages=passages,
        embedded=report.embedded,
        seconds=tr.decimal(report.seconds),
    )


def added(document: DocumentReport, report: "BuildReport", *, tr: Translator = ENGLISH) -> str:
    """The reply once a document is indexed: as a digest shows it, its passages, how to remove it."""
    label = tr.gettext("Added") if document.status == "added" else tr.gettext("Updated (replaces the previous version)")
    item = DigestItem(document.doc, document.title, "", "new" if document.status == "added" else "updated",
                      document.sentences, document.source)
    body = item_html(item, tr)
    if tg_length(body) > MAX_LENGTH - 600:
        short = tuple(KeySentence(s.paragraph, s.start, s.end, shorten(s.text, 300), s.page) for s in document.sentences)
        body = item_html(DigestItem(item.doc, item.title, "", item.status, short, item.source), tr)
    passages = tr.ngettext("{count} passage", "{count} passages", document.passages, count=document.passages)
    return (
        f"✅ <b>{esc(label)}</b>\n{body}\n"
        f"{passages}. {_build_line(report, tr)}\n"
        + tr.gettext("Reply /forget to this message to remove it.")
    )


def forgotten(doc: str, title: str | None, report: "BuildReport", *, tr: Translator = ENGLISH) -> str:
    gone = tr.gettext("<b>Forgotten:</b> {document} left the seeds folder and the index.", document=_document(doc, title))
    return f"🗑 {gone} {_build_line(report, tr)}"


def forgetting(doc: str, title: str | None, *, tr: Translator = ENGLISH) -> str:
    return tr.gettext("Forgetting {document}…", document=_document(doc, title))


def forget_usage(*, tr: Translator = ENGLISH) -> str:
    return tr.gettext(
        "Which document? Reply <code>/forget</code> to the upload, the forwarded post or my report about it, "
        "or send <code>/forget 3</code> with its number in /sources (or its name or link)."
    )


def forget_unknown(what: str, *, tr: Translator = ENGLISH) -> str:
    return tr.gettext("I know no document {what}. /sources lists them with their numbers.", what=esc(shorten(what, 200)))


def forget_failed(doc: str, reason: str, *, tr: Translator = ENGLISH) -> str:
    return tr.gettext("<b>Not forgotten:</b> {document}: {reason}.", document=esc(doc), reason=esc(reason))


def add_usage(*, tr: Translator = ENGLISH) -> str:
    return tr.gettext("Send the link after the command, for example: <code>/add https://example.org/report.html</code>")
