"""Turn a Word document (.docx) into the plain text the chunker reads.

Usage::

    text = docx_to_text(raw_bytes)   # "# Title\\n\\nFirst paragraph.\\n\\nSecond ..."; raises DocxUnreadable

A .docx file is a zip of XML; its body is a sequence of paragraphs (``w:p``) and
tables.  Each non-empty paragraph becomes one paragraph of text, each table row one
paragraph (cells joined by " | "), and paragraphs styled as headings ("Heading 1",
"Title", ...) become Markdown headings: titles, not paragraphs, as in ``.md`` files.
The title is the document's own (File > Properties) when set, else its first heading.
Headers, footers, comments and footnotes are left out.  Only the standard library is
used: a .docx needs no converter.
"""

from __future__ import annotations

import io
import re
import zipfile
from xml.etree import ElementTree

from index.compose import Unreadable, compose

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
_HEADING_STYLE = re.compile(r"(?:heading|title|subtitle|berschrift|titre|titolo|t[ií]tulo)", re.IGNORECASE)
MAX_XML_BYTES = 100 * 1024 * 1024  # the unpacked body; a zip bomb stops here


class DocxUnreadable(Unreadable):
    """The .docx has no text the index can read; the message says why."""


def docx_to_text(raw: bytes) -> str:
    """The document's title (``# ...``) and its paragraphs, separated by blank lines."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            body = _read_xml(archive, "word/document.xml")
            core = _read_xml(archive, "docProps/core.xml", required=False)
    except DocxUnreadable:
        raise
    except (zipfile.BadZipFile, ElementTree.ParseError, KeyError, OSError, ValueError, EOFError) as exc:
        raise DocxUnreadable(f"not a readable Word document ({exc.__class__.__name__})") from None
    blocks = list(_blocks(body))
    if not any(kind == "p" for kind, _ in blocks):
        raise DocxUnreadable("no text in the Word document")
    title = ""
    if core is not None:
        element = core.find(_DC_TITLE)
        title = " ".join((element.text or "").split()) if element is not None else ""
    title = title or next((text for kind, text in blocks if kind == "h"), "")
    return compose(title, ((kind == "h", text) for kind, text in blocks))[0]


def _read_xml(archive: zipfile.ZipFile, name: str, required: bool = True):
    try:
        info = archive.getinfo(name)
    except KeyError:
        if required:
            raise DocxUnreadable(f"not a Word document (no {name})") from None
        return None
    if info.file_size > MAX_XML_BYTES:
        raise DocxUnreadable(f"{name} unpacks to {info.file_size / 1e6:.0f} MB, more than a document holds")
    return ElementTree.fromstring(archive.read(info))


def _blocks(root):
    """("p" or "h", text) for each paragraph and table row of the body, in order."""
    body = root.find(f"{_W}body")
    if body is None:
        return
    for child in body:
        if child.tag == f"{_W}p":
            text = _paragraph_text(child)
            if text:
                yield ("h" if _is_heading(child) else "p"), text
        elif child.tag == f"{_W}tbl":
            for row in child.iter(f"{_W}tr"):
                cells = [" ".join(_paragraph_text(p) for p in cell.iter(f"{_W}p")).strip() for cell in row.iter(f"{_W}tc")]
                cells = [c for c in cells if c]
                if cells:
                    yield "p", " | ".join(cells)


def _paragraph_text(paragraph) -> str:
    parts = []
    for node in paragraph.iter():
        if node.tag == f"{_W}t":
            parts.append(node.text or "")
        elif node.tag in (f"{_W}tab", f"{_W}br", f"{_W}cr"):
            parts.append(" ")
    return " ".join("".join(parts).split())


def _is_heading(paragraph) -> bool:
    style = paragraph.find(f"{_W}pPr/{_W}pStyle")
    value = style.get(f"{_W}val", "") if style is not None else ""
    return bool(_HEADING_STYLE.search(value))
