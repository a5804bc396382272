"""Lay out a converted document (web page, PDF, Word file) as the text the chunker reads.

Usage::

    text, offsets = compose("Title", [(True, "Introduction"), (False, "First paragraph.")])
    # "# Title\n\n## Introduction\n\nFirst paragraph.\n", [9, 25]

The title becomes a ``# `` line, headings ``## `` lines (titles, not paragraphs, as in
``.md`` files) and every other block a paragraph, blocks separated by blank lines.  A
heading that repeats the title (a page's headline, a Word "Title" paragraph) is left
out.  ``offsets`` says where each block starts in the text (None for one left out).
A converter that finds no usable text raises ``Unreadable`` with the reason.
"""

from __future__ import annotations

from typing import Iterable


class Unreadable(ValueError):
    """A file a converter cannot turn into text; the message says why (the file is skipped with it)."""


def compose(title: str, blocks: Iterable[tuple[bool, str]]) -> tuple[str, list[int | None]]:
    """(text, start offset of each block) for ``title`` and (is_heading, text) ``blocks``."""
    lines = [f"# {title}"] if title else []
    offsets: list[int | None] = []
    at = len(lines[0]) + 2 if lines else 0
    for heading, text in blocks:
        if heading and text == title:
            offsets.append(None)
            continue
        line = f"## {text}" if heading else text
        offsets.append(at)
        lines.append(line)
        at += len(line) + 2
    return ("\n\n".join(lines) + "\n" if lines else ""), offsets
