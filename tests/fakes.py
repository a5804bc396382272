"""Test doubles: a deterministic fake embedder and config helpers.

``FakeEmbedder`` hashes words into a fixed-size vector (a bag of words with the
hashing trick), so texts sharing words are close, results are exact across runs,
and no model is loaded.  It counts what it embeds, which lets tests prove that an
incremental build re-embeds only what changed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from core.config import load_config, Config
from core.text import words

SEED_ARTICLE = Path(__file__).resolve().parent.parent / "seeds" / "pakistan-us-counterterrorism-dialogue.txt"


class FakeEmbedder:
    def __init__(self, name: str = "fake-embedder", dimension: int = 64, fail_after: int | None = None):
        self.name = name
        self.dimension = dimension
        self.embedded: list[str] = []
        self.calls = 0
        self.fail_after = fail_after

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("fake embedder failure")
        self.embedded.extend(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in words(text) or ["<empty>"]:
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                out[row, int.from_bytes(digest[:4], "little") % self.dimension] += 1.0
            out[row] /= np.linalg.norm(out[row])
        return out


def write_config(tmp_path: Path, extra: str = "", **sections: dict) -> Config:
    """Write a config.toml under ``tmp_path`` with seeds/ and data/index/ beside it, and load it."""
    (tmp_path / "seeds").mkdir(exist_ok=True)
    text = '[seeds]\ndir = "seeds"\n[index]\ndir = "data/index"\nmodel = "fake-embedder"\n'
    # English only unless a test asks for the multilingual path (it passes its own encoder).
    text += 'passage_chars = 300\nmin_paragraph_chars = 80\nmultilingual_model = ""\n'
    text += "[retrieval]\nmin_score = 0.2\n" + extra
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def make_pdf(pages: Sequence[Sequence[str]], title: str | None = None) -> bytes:
    """A minimal PDF with a text layer: each page a list of lines in Helvetica (Latin-1 text only)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    pages_id = len(objects) + 1 + 2 * len(pages)  # the /Pages object comes after each page's two
    page_ids = []
    for lines in pages:
        ops = ["BT /F1 11 Tf 14 TL 72 760 Td"]
        for line in lines:
            ops.append("(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        page_ids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_id, content, font)
            )
        )
    kids = " ".join(f"{i} 0 R" for i in page_ids).encode()
    add(b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % len(page_ids))
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    info = add(b"<< /Title (" + title.encode("latin-1") + b") >>") if title else None
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objects) + 1, catalog) + (b" /Info %d 0 R" % info if info else b"") + b" >>"
    out += b"trailer\n" + trailer + b"\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


# A two-page report as a PDF: a heading, a hyphenated line break, page numbers, a
# paragraph running over the page break, a bulleted list.
REPORT_PDF_PAGES = [
    [
        "Harbour Report",
        "Introduction",
        "The old harbour of Port Elmer was built in 1852 by the Baltic",
        "Trading Company. Its stone piers were designed by the engineer",
        "Walter Grieve.",
        "The lighthouse at the end of the north pier is 31 metres tall and",
        "was auto-",
        "mated in 1987. No keeper has lived there since then, and the",
        "1",
    ],
    [
        "covered hall was restored in 2004 after a storm damaged its roof.",
        "- Fishing boats land herring and cod every morning.",
        "- The fish market opens at five in the morning.",
        "2",
    ],
]


def make_docx(paragraphs: Sequence[tuple[str, str]], title: str | None = None, table: Sequence[Sequence[str]] = ()) -> bytes:
    """A minimal Word file: (style, text) paragraphs ("" for body text, "Heading1", "Title", ...), then a table."""
    import io
    import zipfile
    from xml.sax.saxutils import escape

    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

    def paragraph(style: str, text: str) -> str:
        props = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
        runs = "".join(f"<w:r><w:t xml:space=\"preserve\">{escape(part)}</w:t></w:r>" for part in text.split("|"))
        return f"<w:p>{props}{runs}</w:p>"

    body = "".join(paragraph(style, text) for style, text in paragraphs)
    if table:
        rows = "".join("<w:tr>" + "".join(f"<w:tc>{paragraph('', cell)}</w:tc>" for cell in row) + "</w:tr>" for row in table)
        body += f"<w:tbl>{rows}</w:tbl>"
    document = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{w}"><w:body>{body}</w:body></w:document>'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", document)
        if title is not None:
            archive.writestr(
                "docProps/core.xml",
                '<?xml version="1.0"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
                f'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{escape(title)}</dc:title>'
                "</cp:coreProperties>",
            )
    return buffer.getvalue()
