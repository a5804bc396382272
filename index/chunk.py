"""Split a document into a title, numbered paragraphs and sentence-aware passages.

Every span is a pair of character offsets into the document text, so
``text[p.start:p.end] == p.text`` for every passage and any extract can be cited
(document, paragraph) and found again in the source.

Paragraphs: blocks separated by blank lines; inside a block, each line is its own
paragraph (news copy puts one paragraph on a line) unless the block looks
hard-wrapped (short lines that mostly break mid-sentence), in which case the
block is one paragraph.  Markdown headings are titles, not paragraphs.  A short first line
standing alone above the body, without closing punctuation, is the title.

Passages: a paragraph that fits in ``passage_chars`` is one passage; paragraphs
shorter than ``min_paragraph_chars`` are merged with the next while the total
fits; a longer paragraph is packed sentence by sentence, each passage starting
with the last ``overlap_sentences`` sentences of the one before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.text import shorten, split_sentences

TITLE_CHARS = 80
_WRAP_WIDTH = 100
_LINE_ENDINGS = (".", "!", "?", ":", '"', "”", "'", "’", ")", "。", "！", "？", "」", "؟", "।")
_HEADING = re.compile(r"#{1,6}\s+(.*\S)")


@dataclass(frozen=True)
class Paragraph:
    number: int  # 1-based, counting body paragraphs only
    start: int
    end: int


@dataclass(frozen=True)
class Passage:
    """A span of one document that is embedded and searched as a unit."""

    doc: str
    paragraph: int  # the paragraph the passage starts in (1-based)
    paragraph_end: int  # the paragraph it ends in
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class ChunkSettings:
    passage_chars: int = 600
    min_paragraph_chars: int = 200
    overlap_sentences: int = 1


def split_paragraphs(text: str) -> tuple[str, list[Paragraph]]:
    """Return the document's title and its body paragraphs."""
    candidates: list[tuple[int, int, bool]] = []  # (start, end, is_heading)
    for block_start, block_end in _blocks(text):
        lines = _line_spans(text, block_start, block_end)
        if _is_wrapped(text, lines):
            candidates.append((lines[0][0], lines[-1][1], False))
            continue
        for a, b in lines:
            candidates.append((a, b, bool(_HEADING.fullmatch(text[a:b]))))

    title = ""
    if candidates:
        a, b, heading = candidates[0]
        first = text[a:b]
        if heading:
            title = _HEADING.fullmatch(first).group(1)
        elif _looks_like_title(text, candidates):
            title = first
            candidates = candidates[1:]
        else:
            title = first.splitlines()[0]
    paragraphs = []
    for a, b, heading in candidates:
        if not heading:
            paragraphs.append(Paragraph(len(paragraphs) + 1, a, b))
    return shorten(title.strip("#* \t"), TITLE_CHARS) or "(untitled)", paragraphs


def _blocks(text: str) -> list[tuple[int, int]]:
    spans = []
    pos = 0
    for match in re.finditer(r"\n[ \t]*\r?\n", text):
        spans.append((pos, match.start()))
        pos = match.end()
    spans.append((pos, len(text)))
    return [s for s in spans if text[s[0] : s[1]].strip()]


def _line_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    pos = start
    for match in re.finditer(r"\r?\n", text[start:end]):
        spans.append((pos, start + match.start()))
        pos = start + match.end()
    spans.append((pos, end))
    out = []
    for a, b in spans:
        line = text[a:b]
        if line.strip():
            out.append((a + len(line) - len(line.lstrip()), a + len(line.rstrip())))
    return out


def _is_wrapped(text: str, lines: list[tuple[int, int]]) -> bool:
    if len(lines) < 2:
        return False
    if any(_HEADING.fullmatch(text[a:b]) for a, b in lines):
        return False
    # Hard-wrapped prose: short lines that mostly break mid-sentence.  News copy with one
    # paragraph per line ends (almost) every line with terminal punctuation instead.
    heads = lines[:-1]
    if any(b - a > _WRAP_WIDTH for a, b in heads):
        return False
    open_ended = sum(1 for a, b in heads if not text[a:b].rstrip().endswith(_LINE_ENDINGS))
    return open_ended * 2 >= len(heads)


def _looks_like_title(text: str, candidates: list[tuple[int, int, bool]]) -> bool:
    a, b, _ = candidates[0]
    first = text[a:b]
    alone = text[b : candidates[1][0]].count("\n") >= 2 if len(candidates) > 1 else False
    return alone and len(first) <= 150 and "\n" not in first and not first.rstrip().endswith((".", "!", "?", ":", ";", "。", "！", "？", "؟", "।"))


def chunk_document(doc: str, text: str, settings: ChunkSettings) -> tuple[str, list[Passage]]:
    """Split one document into its title and passages no longer than ``settings.passage_chars``."""
    title, paragraphs = split_paragraphs(text)
    limit = settings.passage_chars
    passages: list[Passage] = []

    def emit(first: int, last: int, start: int, end: int) -> None:
        passages.append(Passage(doc, first, last, start, end, text[start:end]))

    group: list[Paragraph] = []
    for para in paragraphs:
        length = para.end - para.start
        if group and para.end - group[0].start > limit:
            emit(group[0].number, group[-1].number, group[0].start, group[-1].end)
            group = []
        if length > limit:
            for start, end in _pack_sentences(text, para, settings):
                emit(para.number, para.number, start, end)
            continue
        group.append(para)
        if group[-1].end - group[0].start >= settings.min_paragraph_chars:
            emit(group[0].number, group[-1].number, group[0].start, group[-1].end)
            group = []
    if group:
        emit(group[0].number, group[-1].number, group[0].start, group[-1].end)
    return title, passages


def _pack_sentences(text: str, para: Paragraph, settings: ChunkSettings) -> list[tuple[int, int]]:
    limit = settings.passage_chars
    pieces: list[tuple[int, int]] = []
    for a, b in split_sentences(text, para.start, para.end):
        pieces.extend(_hard_split(text, a, b, limit) if b - a > limit else [(a, b)])

    windows: list[tuple[int, int]] = []
    i = 0
    while i < len(pieces):
        j = i + 1
        while j < len(pieces) and pieces[j][1] - pieces[i][0] <= limit:
            j += 1
        windows.append((pieces[i][0], pieces[j - 1][1]))
        if j >= len(pieces):
            break
        # Start the next window a few sentences back for context, but always move forward.
        i = max(i + 1, j - settings.overlap_sentences)
        while i < j and pieces[j][1] - pieces[i][0] > limit:
            i += 1
    return windows


def _hard_split(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Cut an over-long sentence at spaces into pieces of at most ``limit`` characters."""
    out = []
    while end - start > limit:
        cut = text.rfind(" ", start + 1, start + limit + 1)
        if cut <= start:
            cut = start + limit
        out.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        out.append((start, end))
    return out


@dataclass(frozen=True)
class Sentence:
    """One sentence of a paragraph: the unit an answer is chosen from."""

    doc: str
    paragraph: int
    start: int
    end: int
    text: str


def split_document_sentences(doc: str, text: str) -> list[Sentence]:
    """Every body sentence of ``text``, in order, with its paragraph number and offsets."""
    _, paragraphs = split_paragraphs(text)
    return [
        Sentence(doc, para.number, a, b, text[a:b])
        for para in paragraphs
        for a, b in split_sentences(text, para.start, para.end)
    ]
