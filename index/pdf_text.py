"""Turn a PDF's text layer into the plain text the chunker reads.

Usage::

    text, pages = pdf_to_text(raw_bytes)  # "# Title\\n\\nFirst paragraph. ...", (0, 812, ...); raises PdfUnreadable
    page_of(pages, offset)                # the page (1-based) a character of ``text`` comes from

A PDF stores lines, not paragraphs.  Lines are joined back into paragraphs: a line
that ends a sentence and stops well short of the page's usual line width ends its
paragraph, a word hyphenated across a line break is joined again ("auto-" +
"mated"), a paragraph running over a page break continues on the next page, and
page numbers, running heads and table-of-contents lines are dropped.  A short line
that starts with a capital or a section number ("2.1 Naming"), does not end a
sentence and is followed by the start of a paragraph is read as a heading (a title,
not a paragraph, as in ``.md`` files).  The document's title is the PDF's own title when
it has a meaningful one.  Extracts
quote this text, which is what a reader copies out of the PDF, and are cited by the
page their paragraph starts on (``pages[i]`` is where page ``i + 1`` starts in the
text; pages are counted as a PDF viewer counts them, from 1).  Scanned PDFs without
a text layer and password-protected ones are refused with the reason.
"""

from __future__ import annotations

import bisect
import io
import logging
import re
import statistics
from typing import Sequence

from index.compose import Unreadable, compose

_PAGE_NUMBER = re.compile(r"(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?|[-–—]\s*\d{1,4}\s*[-–—]", re.IGNORECASE)
_ENDS_SENTENCE = (".", "!", "?", ":", ";", '"', "”", "’", ")")
_BULLET = re.compile(r"[•·▪‣◦\-–—*]\s|\(?\d{1,2}[.)]\s|\(?[a-z][.)]\s")
_SECTION_NUMBER = re.compile(r"(?:\d{1,2}\.)*\d{1,2}\.?\s+\S")  # "2", "1.2." or "3.1" before a heading
_DOT_LEADER = re.compile(r"(?:\s?\.){5,}\s*[\divxlc]+$")  # a table-of-contents line
# Titles that PDF writers fill in by themselves, which say nothing about the document.
_JUNK_TITLE = re.compile(r"^(?:untitled|microsoft word\b|document\d*$|.*\.(?:docx?|pdf|tex|dvi|indd|rtf)$)", re.IGNORECASE)
SHORT_LINE = 0.8  # a line shorter than this share of the usual width can end a paragraph
HEADING_LINE = 0.6


class PdfUnreadable(Unreadable):
    """The PDF has no text the index can read; the message says why."""


def page_of(pages: Sequence[int], offset: int) -> int | None:
    """The page (1-based) that character ``offset`` of a PDF's text comes from; None without pages."""
    return bisect.bisect_right(pages, offset) or None if pages else None


def pdf_to_text(raw: bytes) -> tuple[str, tuple[int, ...]]:
    """The PDF's title (``# ...``) and its paragraphs, separated by blank lines, and where each page starts."""
    from pypdf import PdfReader

    # pypdf reports every recoverable oddity of a file at WARNING; the reader's own
    # warning (skipped, and why) is the one a user needs.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise PdfUnreadable("password-protected PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = _title(reader)
    except PdfUnreadable:
        raise
    except Exception as exc:  # a damaged file may fail anywhere inside the parser
        # One bad file must cost only itself, never the build: whatever the parser raises
        # on malformed input, the file is skipped with the reason.
        raise PdfUnreadable(f"not a readable PDF ({exc.__class__.__name__})") from None
    blocks = _paragraphs(pages)
    if not any(kind == "p" for kind, _, _ in blocks):
        raise PdfUnreadable("no text layer in the PDF (a scanned document?)")
    text, offsets = compose(title, ((kind == "h", block) for kind, block, _ in blocks))
    starts = [0]  # where each page's first block starts in the text
    for (_, _, page), offset in zip(blocks, offsets):
        if offset is not None:
            starts += [offset] * (page + 1 - len(starts))
    # Pages that start no block (blank, or all one paragraph carried over) start where the next does.
    starts += [len(text)] * (len(pages) - len(starts))
    return text, tuple(starts)


def _title(reader) -> str:
    try:
        title = (reader.metadata.title or "") if reader.metadata else ""
    except Exception:  # a damaged information dictionary loses only the title
        return ""
    title = " ".join(str(title).split())
    return "" if not title or _JUNK_TITLE.match(title) else title


def _paragraphs(pages: list[str]) -> list[tuple[str, str, int]]:
    """("p" or "h", text, page index it starts on) blocks, in reading order, from the pages' lines."""
    page_lines = [[" ".join(line.split()) for line in page.splitlines()] for page in pages]
    lengths = [len(line) for lines in page_lines for line in lines if line]
    if not lengths:
        return []
    # The usual full line width: the upper quartile, so short lines do not drag it down.
    width = statistics.quantiles(lengths, n=4)[-1] if len(lengths) >= 4 else max(lengths)
    blocks: list[tuple[str, str, int]] = []
    current: list[str] = []
    opened = 0  # the page the current paragraph started on

    def close() -> None:
        if current:
            blocks.append(("p", _join(current), opened))
            current.clear()

    running = _running_lines(page_lines)
    for number, lines in enumerate(page_lines):
        # The first page keeps its lines: a running head there is usually the title.
        lines = [
            l for l in lines if not (_PAGE_NUMBER.fullmatch(l) or _DOT_LEADER.search(l) or (number and _shape(l) in running))
        ]
        for i, line in enumerate(lines):
            if not line:
                close()
                continue
            if _is_heading(line, width) and (i + 1 == len(lines) or not lines[i + 1] or _starts_block(lines[i + 1])):
                close()
                blocks.append(("h", line, number))
                continue
            if _BULLET.match(line) and current:
                close()
            if not current:
                opened = number
            current.append(line)
            if line.endswith(_ENDS_SENTENCE) and len(line) < SHORT_LINE * width:
                close()
        # A paragraph ending in mid-sentence at the foot of a page goes on over the page.
        if current and current[-1].endswith(_ENDS_SENTENCE):
            close()
    close()
    return blocks


def _is_heading(line: str, width: float) -> bool:
    """A short line that starts with a capital or a section number and does not end a sentence."""
    if len(line) >= HEADING_LINE * width:
        return False
    if _SECTION_NUMBER.match(line) and not _DOT_LEADER.search(line):
        rest = _SECTION_NUMBER.match(line).group()[-1]
        return rest.isupper() and not line.endswith(".")  # "1.2. What is this spec?" is a heading
    return line[:1].isupper() and not line.endswith(_ENDS_SENTENCE)


def _starts_block(line: str) -> bool:
    """Whether a line can open a paragraph or a heading (a capital, a number, a bullet)."""
    return line[:1].isupper() or bool(_SECTION_NUMBER.match(line) or _BULLET.match(line))


def _running_lines(page_lines: list[list[str]]) -> set[str]:
    """Running heads and feet (by ``_shape``): lines that open or close many pages alike."""
    if len(page_lines) < 3:
        return set()
    seen: dict[str, int] = {}
    for lines in page_lines:
        kept = [l for l in lines if l and not _PAGE_NUMBER.fullmatch(l)]
        for shape in {_shape(l) for l in (*kept[:2], *kept[-2:])}:
            seen[shape] = seen.get(shape, 0) + 1
    return {shape for shape, count in seen.items() if count >= max(3, 0.3 * len(page_lines))}


def _shape(line: str) -> str:
    """A line with its numbers blanked: "Chapter 4: Reference 22" and "... 23" are one running head."""
    return re.sub(r"\d+", "#", line)


def _join(lines: list[str]) -> str:
    text = lines[0]
    for line in lines[1:]:
        if re.search(r"[A-Za-z]-$", text) and line[:1].islower():
            text = text[:-1] + line  # a word hyphenated at the line break
        else:
            text = f"{text} {line}"
    return text
