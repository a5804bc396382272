"""Turn a saved web page (HTML) into the plain text the chunker reads.

Usage::

    text = html_to_text(page)   # "# Title\\n\\nFirst paragraph.\\n\\nSecond paragraph.\\n"

A news desk's folder holds saved article pages as often as text files.  The visible
text of the page becomes the document: every paragraph-like element (``p``, ``li``,
``blockquote``, table rows, ...) is one paragraph, headings become Markdown headings
(titles, not paragraphs, as in ``.md`` files), and ``<title>`` (else the first ``h1``)
heads the document.  Scripts, styles, navigation, asides, footers and forms are dropped;
when the page marks its article (``<article>`` or ``<main>``), only that is kept, so
menus and "related stories" never answer a question.  Extracts quote this text
verbatim, which is the text a reader sees on the page.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from index.compose import compose

# Never visible, or page furniture rather than the article.
_SKIP = frozenset("script style noscript template svg canvas iframe object nav aside footer form button select".split())
# Elements whose text stands as a paragraph of its own.
_BLOCKS = frozenset(
    "p div section article main header li ul ol dl dd dt blockquote pre table tr caption figure figcaption "
    "address details summary hr br h1 h2 h3 h4 h5 h6 body html".split()
)
_HEADINGS = frozenset("h1 h2 h3 h4 h5 h6".split())
_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def declared_charset(raw: bytes) -> str | None:
    """The character set a page declares in a ``<meta>`` tag near its start, if any."""
    match = _CHARSET.search(raw[:4096])
    return match.group(1).decode("ascii").lower() if match else None


def html_to_text(page: str) -> str:
    """The page's title and visible paragraphs as text: a ``# Title`` line, then blank-line separated blocks."""
    parser = _PageParser()
    parser.feed(page)
    parser.close()
    blocks = parser.blocks()
    title = parser.title or next((text for kind, text in blocks if kind == "h1"), "")
    return compose(title, ((kind in _HEADINGS, text) for kind, text in blocks))[0]


class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title = ""
        self._in_title = False
        self._title_parts: list[str] = []
        self._stack: list[str] = []  # open elements, for skip / article tracking
        self._skip_depth = 0
        self._article_depth = 0
        self._parts: list[str] = []
        self._kind = "p"
        # (kind, text, inside an <article>/<main>)
        self._blocks: list[tuple[str, str, bool]] = []

    def blocks(self) -> list[tuple[str, str]]:
        self._flush()
        marked = [(kind, text) for kind, text, inside in self._blocks if inside]
        return marked or [(kind, text) for kind, text, _ in self._blocks]

    # -------------------------------------------------------------- parser events

    def handle_starttag(self, tag, attrs):
        if tag == "title" and not self.title:
            self._in_title = True
            return
        if tag in _VOID:
            if tag in ("br", "hr"):
                self._flush()
            return
        if tag in _BLOCKS:
            self._flush()
            if tag in _HEADINGS:
                self._kind = tag
        self._stack.append(tag)
        if tag in _SKIP:
            self._skip_depth += 1
        if tag in ("article", "main"):
            self._article_depth += 1

    def handle_startendtag(self, tag, attrs):
        if tag in ("br", "hr"):
            self._flush()

    def handle_endtag(self, tag):
        if tag == "title" and self._in_title:
            self._in_title = False
            self.title = _collapse("".join(self._title_parts))
            return
        if tag not in self._stack:
            return  # a stray end tag: ignore it, as browsers do
        if tag in _BLOCKS:
            self._flush()
        # Close everything opened after ``tag`` too (HTML lets <p> and <li> go unclosed).
        while self._stack:
            open_tag = self._stack.pop()
            if open_tag in _SKIP:
                self._skip_depth -= 1
            if open_tag in ("article", "main"):
                self._article_depth -= 1
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self._in_title:
            self._title_parts.append(data)
        elif not self._skip_depth:
            self._parts.append(data)

    def _flush(self) -> None:
        text = _collapse("".join(self._parts))
        self._parts = []
        if text:
            self._blocks.append((self._kind, text, self._article_depth > 0))
        self._kind = "p"


def _collapse(text: str) -> str:
    return " ".join(text.split())
