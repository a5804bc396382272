"""Reading seeds: good files in, bad files skipped with a warning naming them."""

import logging
import os

import pytest

from index.documents import read_documents
from tests.fakes import REPORT_PDF_PAGES, make_docx, make_pdf


def test_bad_seed_files_are_skipped_with_a_warning_naming_each(tmp_path, caplog):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "good.txt").write_text("A good document.\nWith two paragraphs.", encoding="utf-8")
    (seeds / "notes.md").write_text("# Notes\n\nMarkdown is read too.", encoding="utf-8")
    (seeds / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (seeds / "empty.txt").write_text("   \n", encoding="utf-8")
    (seeds / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (seeds / "ignored.xlsx").write_bytes(b"PK\x03\x04")
    with caplog.at_level(logging.WARNING):
        documents, skipped = read_documents(seeds)
    assert [d.doc for d in documents] == ["good.txt", "notes.md"]
    assert {s.path for s in skipped} == {"binary.txt", "empty.txt", "latin1.txt", "ignored.xlsx"}
    for name in ("binary.txt", "empty.txt", "latin1.txt", "ignored.xlsx"):
        assert any(name in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    reasons = {s.path: s.reason for s in skipped}
    assert "not valid UTF-8" in reasons["latin1.txt"]
    assert "not a document type" in reasons["ignored.xlsx"] and ".docx" in reasons["ignored.xlsx"]


NEWS_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Harbour reopens after storm</title>
<style>p { color: red }</style><script>var tracking = "Do not index me";</script></head>
<body>
<nav><a href="/">Home</a> <a href="/world">World news menu</a></nav>
<article>
  <header><h1>Harbour reopens after storm</h1></header>
  <p>The old harbour of Port Elmer reopened on Monday, three weeks after the storm.</p>
  <p>Its stone piers were repaired by the engineer Walter Grieve &amp; his crew.<br>
     The fish market opens at five o&#8217;clock.
  <h2>What comes next</h2>
  <ul><li>A festival in June.</li><li>A new lighthouse keeper.</ul>
</article>
<aside>Related: Volcano closes airports</aside>
<footer>Copyright The Port Elmer Gazette</footer>
</body></html>
"""


def test_saved_web_page_is_read_as_its_title_and_article_paragraphs(tmp_path):
    (tmp_path / "harbour.html").write_text(NEWS_PAGE, encoding="utf-8")
    documents, skipped = read_documents(tmp_path)
    assert skipped == [] and [d.doc for d in documents] == ["harbour.html"]
    text = documents[0].text
    assert text.startswith("# Harbour reopens after storm\n\nThe old harbour")  # the headline is not repeated
    blocks = text.strip().split("\n\n")
    assert "The old harbour of Port Elmer reopened on Monday, three weeks after the storm." in blocks
    assert "Its stone piers were repaired by the engineer Walter Grieve & his crew." in blocks  # <br> ends a line
    assert "The fish market opens at five o\u2019clock." in blocks
    assert "## What comes next" in blocks and "A festival in June." in blocks and "A new lighthouse keeper." in blocks
    for furniture in ("tracking", "color", "World news menu", "Volcano", "Copyright"):
        assert furniture not in text


def test_web_page_without_an_article_element_keeps_its_body_text(tmp_path):
    page = "<html><body><nav>Menu</nav><h1>Notice</h1><div>The ferry runs twice a day.</div><p>Tickets cost 4 euros.</p></body></html>"
    (tmp_path / "notice.htm").write_text(page, encoding="utf-8")
    documents, _ = read_documents(tmp_path)
    assert documents[0].text == "# Notice\n\nThe ferry runs twice a day.\n\nTickets cost 4 euros.\n"


def test_web_page_in_its_declared_charset_is_decoded(tmp_path):
    page = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252"></head><body><p>Caf\xe9 \x93Harbour\x94 opens.</p></body></html>'
    (tmp_path / "cafe.html").write_bytes(page.encode("latin-1"))
    documents, skipped = read_documents(tmp_path)
    assert skipped == [] and "Caf\u00e9 \u201cHarbour\u201d opens." in documents[0].text


def test_web_page_with_no_visible_text_is_skipped(tmp_path, caplog):
    (tmp_path / "blank.html").write_text("<html><head><script>x = 1</script></head><body><nav>Menu</nav></body></html>", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        documents, skipped = read_documents(tmp_path)
    assert documents == [] and skipped[0].path == "blank.html" and "no visible text" in skipped[0].reason
    assert any("blank.html" in r.getMessage() for r in caplog.records)


def test_oversized_file_is_skipped(tmp_path):
    (tmp_path / "big.txt").write_text("x" * 5000, encoding="utf-8")
    documents, skipped = read_documents(tmp_path, max_bytes=1000)
    assert documents == [] and "too large" in skipped[0].reason


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without read permission")
def test_unreadable_file_is_skipped(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("hidden", encoding="utf-8")
    path.chmod(0)
    documents, skipped = read_documents(tmp_path)
    assert documents == [] and skipped[0].path == "secret.txt"


def test_symlink_loop_does_not_hang_or_duplicate(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "doc.txt").write_text("Inside.", encoding="utf-8")
    os.symlink("..", tmp_path / "sub" / "loop")
    documents, _ = read_documents(tmp_path)
    assert [d.doc for d in documents] == ["sub/doc.txt"]


def test_utf8_bom_is_stripped_and_hash_is_of_the_bytes(tmp_path):
    (tmp_path / "bom.txt").write_bytes("\ufeffHello.".encode("utf-8"))
    (documents, _) = read_documents(tmp_path)
    assert documents[0].text == "Hello."
    assert len(documents[0].sha256) == 64


def test_pdf_is_read_as_its_title_and_paragraphs_rejoined_from_lines(tmp_path):
    (tmp_path / "report.pdf").write_bytes(make_pdf(REPORT_PDF_PAGES, title="Harbour Report"))
    documents, skipped = read_documents(tmp_path)
    assert skipped == [] and [d.doc for d in documents] == ["report.pdf"]
    assert documents[0].text.split("\n\n") == [
        "# Harbour Report",
        "## Introduction",
        "The old harbour of Port Elmer was built in 1852 by the Baltic Trading Company. "
        "Its stone piers were designed by the engineer Walter Grieve.",
        # hyphenation undone, the page number dropped, the paragraph carried over the page break
        "The lighthouse at the end of the north pier is 31 metres tall and was automated in 1987. "
        "No keeper has lived there since then, and the covered hall was restored in 2004 after a storm damaged its roof.",
        "- Fishing boats land herring and cod every morning.",
        "- The fish market opens at five in the morning.\n",
    ]


def test_pdf_page_starts_say_which_page_each_paragraph_starts_on(tmp_path):
    from index.pdf_text import page_of

    (tmp_path / "report.pdf").write_bytes(make_pdf(REPORT_PDF_PAGES + [["Appendix", "The harbour master keeps the tide tables."]]))
    [document], _ = read_documents(tmp_path)
    text, pages = document.text, document.pages
    assert len(pages) == 3 and pages[0] == 0
    assert page_of(pages, text.index("The old harbour")) == 1
    assert page_of(pages, text.index("The lighthouse at the end")) == 1  # it runs on over the page break
    assert page_of(pages, text.index("- Fishing boats")) == 2
    assert page_of(pages, text.index("The harbour master")) == 3
    assert page_of((), 10) is None


def test_pdf_running_heads_are_dropped_even_with_page_numbers_in_them(tmp_path):
    sentences = ["The harbour opened at dawn.", "Fishing boats left on the tide.", "The market sold cod.", "A storm came at night."]
    pages = [[f"Chapter 2: The Harbour {n}", sentence] for n, sentence in zip(range(10, 14), sentences)]
    (tmp_path / "book.pdf").write_bytes(make_pdf(pages))
    [document], _ = read_documents(tmp_path)
    assert document.text.count("Chapter 2") == 1  # kept on the first page only, where it may be the title
    assert all(sentence in document.text for sentence in sentences)


def test_pdf_title_falls_back_to_its_first_heading_when_the_metadata_has_none(tmp_path):
    (tmp_path / "a.pdf").write_bytes(make_pdf(REPORT_PDF_PAGES, title="Microsoft Word - report.docx"))
    (tmp_path / "b.pdf").write_bytes(make_pdf(REPORT_PDF_PAGES))
    documents, _ = read_documents(tmp_path)
    for document in documents:
        assert document.text.startswith("## Harbour Report\n\n## Introduction\n\nThe old harbour")


def test_pdfs_without_readable_text_are_skipped_with_the_reason(tmp_path, caplog):
    import io

    from pypdf import PdfWriter

    locked = PdfWriter(clone_from=io.BytesIO(make_pdf(REPORT_PDF_PAGES)))
    locked.encrypt("secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    locked.write(buffer)
    (tmp_path / "locked.pdf").write_bytes(buffer.getvalue())
    (tmp_path / "scan.pdf").write_bytes(make_pdf([[], []]))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Cat")
    with caplog.at_level(logging.WARNING):
        documents, skipped = read_documents(tmp_path)
    reasons = {s.path: s.reason for s in skipped}
    assert documents == []
    assert reasons == {
        "locked.pdf": "password-protected PDF",
        "scan.pdf": "no text layer in the PDF (a scanned document?)",
        "broken.pdf": reasons["broken.pdf"],
    }
    assert reasons["broken.pdf"].startswith("not a readable PDF")
    for name in reasons:
        assert any(name in r.getMessage() for r in caplog.records)


def test_word_file_is_read_as_its_title_headings_paragraphs_and_table_rows(tmp_path):
    paragraphs = [
        ("Title", "Harbour Report"),
        ("Heading1", "Introduction"),
        ("", "The old harbour of Port Elmer was built in 1852. |Its piers were designed by Walter Grieve."),
        ("", "   "),
        ("", "Fishing boats land herring & cod every morning."),
    ]
    (tmp_path / "report.docx").write_bytes(make_docx(paragraphs, title="Port Elmer harbour", table=[["Pier", "Length"], ["North", "310 m"]]))
    [document], skipped = read_documents(tmp_path)
    assert skipped == [] and document.doc == "report.docx"
    assert document.text.split("\n\n") == [
        "# Port Elmer harbour",
        "## Harbour Report",
        "## Introduction",
        "The old harbour of Port Elmer was built in 1852. Its piers were designed by Walter Grieve.",
        "Fishing boats land herring & cod every morning.",
        "Pier | Length",
        "North | 310 m\n",
    ]
    (tmp_path / "report.docx").write_bytes(make_docx(paragraphs))  # no document title: its first heading
    [document], _ = read_documents(tmp_path)
    assert document.text.startswith("# Harbour Report\n\n## Introduction\n\nThe old harbour")


def test_word_files_without_readable_text_are_skipped_with_the_reason(tmp_path):
    (tmp_path / "empty.docx").write_bytes(make_docx([("Heading1", "Only a heading")]))
    (tmp_path / "fake.docx").write_bytes(b"this is not a zip file")
    (tmp_path / "other.docx").write_bytes(_zip_without_body())
    documents, skipped = read_documents(tmp_path)
    reasons = {s.path: s.reason for s in skipped}
    assert documents == []
    assert reasons["empty.docx"] == "no text in the Word document"
    assert reasons["fake.docx"].startswith("not a readable Word document")
    assert reasons["other.docx"] == "not a Word document (no word/document.xml)"


def _zip_without_body() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()
