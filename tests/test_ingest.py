"""Documents through Telegram, below the bot: safe names, the seed inbox, the sources registry,
the build's use of it, and link fetching (against a web server on 127.0.0.1)."""

from __future__ import annotations

import json
import os

import pytest

from core.config import load_config
from core.errors import ConfigError, IngestError
from index.build import build_index
from index.fetch import address_problem, check_url, fetch_url
from index.ingest import SeedInbox, post_doc, post_title, safe_name, upload_name
from index.sources import LOCK, REGISTRY, DocumentSource, SourceRegistry, read_sources
from retrieval.retriever import Retriever
from tests.fakes import make_docx, make_pdf, write_config
from tests.link_server import LinkServer

TEXT = b"Harbour notes\n\nThe harbour master logged forty ships in March, most of them herring boats.\n"


def visible_files(root) -> list[str]:
    """Every file under ``root`` (temporary files included) but the registry's lock file."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != LOCK)


# ------------------------------------------------------------------ names


@pytest.mark.parametrize(
    "sent, stored",
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\evil.MD", "evil.md"),
        ("/etc/shadow.txt", "shadow.txt"),
        ("re\x00port\n\r\t.md", "re_port.md"),
        ("\u202egpj.txt", "gpj.txt"),  # a right-to-left override cannot disguise the suffix
        (".bashrc.txt", "bashrc.txt"),  # no hidden files (builds skip them)
        ("..", "document"),
        ("   ", "document"),
        ("Отчёт за 2024.PDF", "Отчёт за 2024.pdf"),
        ("a:b*c?d|e<f>g\".txt", "a_b_c_d_e_f_g.txt"),
    ],
)
def test_safe_name_keeps_names_inside_their_folder(sent, stored):
    assert safe_name(sent) == stored


def test_safe_name_cuts_long_names_but_keeps_the_suffix():
    name = safe_name("ж" * 300 + ".docx")
    assert name.endswith(".docx") and len(name.encode("utf-8")) <= 150


def test_upload_name_takes_the_type_from_the_name_or_else_the_mime_type():
    assert upload_name("notes", "text/plain") == "notes.txt"
    assert upload_name(None, "application/pdf") == "document.pdf"
    with pytest.raises(IngestError, match="not a document type"):
        upload_name("budget.xlsx", "text/plain")  # a suffix the reader does not read is not overridden
    with pytest.raises(IngestError):
        upload_name("photo", "image/jpeg")


def test_post_names_and_titles():
    assert post_doc("telegram", "1001777", 41) == "telegram/posts/1001777-41.txt"
    assert post_title("\n\n**Ferry changes**\nBody text.") == "Ferry changes"
    assert post_title("   ") == "(untitled post)"


# ------------------------------------------------------------------ the inbox


@pytest.fixture
def inbox(tmp_path):
    (tmp_path / "seeds").mkdir()
    return SeedInbox(tmp_path / "seeds", "telegram", max_bytes=1024 * 1024)


def test_upload_is_stored_with_its_record_and_a_second_copy_is_a_duplicate(inbox):
    saved = inbox.save_upload("notes.txt", TEXT, added_by=42, title="Harbour log", messages=("42:7",))
    assert (saved.doc, saved.status, saved.stored) == ("telegram/notes.txt", "added", True)
    assert (inbox.seeds_dir / "telegram" / "notes.txt").read_bytes() == TEXT
    record = read_sources(inbox.seeds_dir)["telegram/notes.txt"]
    assert (record.kind, record.title, record.added_by, record.messages) == ("upload", "Harbour log", 42, ("42:7",))
    again = inbox.save_upload("other name.txt", TEXT, messages=("42:9",))
    assert (again.doc, again.status, again.stored) == ("telegram/notes.txt", "duplicate", False)
    assert inbox.registry.find_message(42, 9) == "telegram/notes.txt"  # /forget in reply to the copy finds it
    assert inbox.save_upload("notes.txt", TEXT).status == "unchanged"
    assert inbox.save_upload("notes.txt", TEXT + b"\nA postscript about gulls.\n").status == "changed"
    assert visible_files(inbox.seeds_dir) == [REGISTRY, "telegram/notes.txt"]


def test_content_already_indexed_elsewhere_is_a_duplicate(inbox):
    (inbox.seeds_dir / "harbour.txt").write_bytes(TEXT)
    from index.documents import read_bytes

    sha = read_bytes("harbour.txt", TEXT)[2]
    saved = inbox.save_upload("copy.txt", TEXT, indexed={"harbour.txt": sha})
    assert (saved.doc, saved.status) == ("harbour.txt", "duplicate")
    assert not (inbox.seeds_dir / "telegram").exists()


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("scan.pdf", make_pdf([[]]), "no text layer in the PDF"),
        ("empty.txt", b"", "the file is empty"),
        ("blank.md", b"   \n\n", "empty"),
        ("nul.txt", b"abc\x00def", "binary file"),
        ("latin.txt", "café".encode("latin-1"), "not valid UTF-8"),
        ("broken.docx", b"PK\x03\x04 broken", "Word"),
        ("big.txt", b"x" * (1024 * 1024 + 1), "too large"),
    ],
)
def test_unreadable_documents_are_refused_with_the_reason_and_nothing_is_stored(inbox, name, data, reason):
    with pytest.raises(IngestError) as refused:
        inbox.save_upload(name, data)
    assert reason.lower() in str(refused.value).lower()
    assert visible_files(inbox.seeds_dir) == []


def test_a_write_that_fails_midway_leaves_no_file_and_no_temporary_file(inbox, monkeypatch):
    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        inbox.save_upload("notes.txt", TEXT)
    monkeypatch.undo()
    assert visible_files(inbox.seeds_dir) == []
    # The next attempt succeeds.
    assert inbox.save_upload("notes.txt", TEXT).status == "added"


def test_an_older_edit_of_a_post_never_overwrites_a_newer_one(inbox):
    base = "Ferry timetable\nThe ferry leaves at {} from the north pier every weekday morning."
    newest = inbox.save_post(channel="1001777", message_id=5, text=base.format("nine"), link="https://t.me/news/5", stamp=(100, 9))
    late = inbox.save_post(channel="1001777", message_id=5, text=base.format("eight"), link="https://t.me/news/5", stamp=(100, 8))
    assert (newest.status, late.status) == ("added", "unchanged")
    assert "nine" in (inbox.seeds_dir / newest.doc).read_text(encoding="utf-8")
    record = inbox.registry.get(newest.doc)
    assert (record.kind, record.source, record.title, record.stamp) == ("post", "https://t.me/news/5", "Ferry timetable", (100, 9))


def test_forget_removes_the_file_and_its_record_but_nothing_outside_the_seeds_folder(inbox, tmp_path):
    saved = inbox.save_upload("notes.txt", TEXT)
    assert inbox.forget(saved.doc) is True
    assert visible_files(inbox.seeds_dir) == [REGISTRY] and read_sources(inbox.seeds_dir) == {}
    assert inbox.forget(saved.doc) is False
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.txt").write_bytes(TEXT)
    (inbox.seeds_dir / "linked").symlink_to(outside)
    with pytest.raises(IngestError, match="outside the seeds folder"):
        inbox.forget("linked/keep.txt")
    assert (outside / "keep.txt").exists()
    for bad in ("../elsewhere/keep.txt", "/etc/passwd", "a/../../x.txt", ""):
        with pytest.raises(IngestError):
            inbox.forget(bad)


def test_registry_round_trips_and_a_damaged_one_is_ignored(tmp_path):
    (tmp_path / "a.txt").write_bytes(TEXT)
    registry = SourceRegistry(tmp_path)
    registry.put(DocumentSource("a.txt", "abc", kind="link", source="https://example.org/a", messages=("1:2",), stamp=(3, 4)))
    assert read_sources(tmp_path)["a.txt"] == DocumentSource(
        "a.txt", "abc", kind="link", source="https://example.org/a", added="", messages=("1:2",), stamp=(3, 4)
    )
    assert registry.find_source("https://example.org/a") == "a.txt" and registry.find_message(1, 2) == "a.txt"
    (tmp_path / REGISTRY).write_text("{not json", encoding="utf-8")
    assert read_sources(tmp_path) == {}


# ------------------------------------------------------------------ the build reads the registry


def test_build_keeps_sources_and_given_titles_and_extracts_carry_the_source(tmp_path, embedder):
    config = write_config(tmp_path)
    inbox = SeedInbox(config.seeds.dir, "telegram")
    inbox.save_upload("notes.txt", TEXT, title="Harbour master's log")
    inbox.save_link("https://example.org/ships?id=1", "example.org-ships.txt", b"Ship register\n\nThe ship register lists the trawler Aurora, built in Bergen in 1961.\n", added_by=1)
    (config.seeds.dir / "plain.txt").write_text("Plain notes\n\nNothing came with this file about lanterns.\n", encoding="utf-8")
    build_index(config, embedder)
    manifest = json.loads((config.index.dir / "current" / "manifest.json").read_text(encoding="utf-8"))
    docs = manifest["documents"]
    assert docs["telegram/notes.txt"]["title"] == "Harbour master's log" and "source" not in docs["telegram/notes.txt"]
    assert docs["telegram/links/example.org-ships.txt"]["source"] == "https://example.org/ships?id=1"
    assert "source" not in docs["plain.txt"]

    retriever = Retriever.open(config, embedder)
    answer = retriever.answer("Where was the trawler Aurora built?")
    first = answer.extracts[0]
    assert first.source == "https://example.org/ships?id=1"
    assert first.to_json()["source"] == "https://example.org/ships?id=1"
    plain = retriever.answer("What came with the plain notes about lanterns?").extracts[0]
    assert plain.doc == "plain.txt" and plain.to_json()["source"] is None
    retriever.close()

    # A restart or a rebuild with nothing re-embedded keeps them.
    embedder.embedded.clear()
    build_index(config, embedder)
    assert embedder.embedded == []
    manifest = json.loads((config.index.dir / "current" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["documents"]["telegram/notes.txt"]["title"] == "Harbour master's log"
    assert manifest["documents"]["telegram/links/example.org-ships.txt"]["source"] == "https://example.org/ships?id=1"


# ------------------------------------------------------------------ links


@pytest.mark.parametrize(
    "address, problem",
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("10.0.0.8", "a private-network address"),
        ("172.16.4.1", "a private-network address"),
        ("192.168.1.1", "a private-network address"),
        ("fd12::1", "a private-network address"),
        ("169.254.169.254", "a link-local address"),  # cloud metadata services live here
        ("fe80::1", "a link-local address"),
        ("0.0.0.0", "not a public address"),
        ("100.64.0.1", "not a public address"),
        ("224.0.0.1", "not a public address"),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_only_public_addresses_may_be_fetched(address, problem):
    assert address_problem(address) == problem


@pytest.mark.parametrize(
    "url, reason",
    [
        ("ftp://example.org/a.txt", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("example.org/page", "not a link"),
        ("http://user:secret@example.org/", "user name or password"),
        ("http:///nohost", "no host name"),
    ],
)
def test_check_url_refuses_what_is_not_a_plain_web_link(url, reason):
    with pytest.raises(IngestError, match=reason):
        check_url(url)


@pytest.fixture(scope="module")
def web():
    with LinkServer(slow_seconds=3) as server:
        server.pages["/story.html"] = ("text/html; charset=iso-8859-1", "<title>Café</title><p>Un café au port.</p>".encode("latin-1"))
        server.pages["/doc"] = ("application/octet-stream", make_pdf([["Tides", "Tide tables for May."]]))
        server.pages["/memo.docx"] = ("application/octet-stream", make_docx([("", "A memo.")]))
        server.pages["/notes.md"] = ("text/plain", b"# Notes\n\nSome notes.\n")
        yield server


def fetch(web, path, **kwargs):
    kwargs.setdefault("max_bytes", 1024 * 1024)
    kwargs.setdefault("timeout", 1.0)
    kwargs.setdefault("allow_private", True)
    return fetch_url(web.url(path), **kwargs)


def test_fetch_keeps_pages_pdfs_word_files_and_text_under_stable_names(web):
    page = fetch(web, "/story.html")
    assert page.data.decode("utf-8") == "<title>Café</title><p>Un café au port.</p>"  # re-encoded as UTF-8
    assert page.name.startswith("127.0.0.1-story-") and page.name.endswith(".html")
    assert fetch(web, "/story.html").name == page.name
    assert fetch(web, "/doc").name.endswith(".pdf")  # sniffed: the server did not say
    assert fetch(web, "/memo.docx").name.endswith(".docx")
    assert fetch(web, "/notes.md").name.endswith(".md")
    assert fetch(web, "/hops/5").final_url == web.url("/hops/0")


@pytest.mark.parametrize(
    "path, reason",
    [
        ("/slow", "did not answer within 1 s"),
        ("/loop", "redirects more than 5 times"),
        ("/hops/6", "redirects more than 5 times"),
        ("/missing", "answered 404 Not Found"),
        ("/huge", "the document is 2.0 GB; at most 1 MB"),
        ("/endless", "larger than 1 MB"),
        ("/half", "broke off after 10000 bytes"),
    ],
)
def test_fetch_refuses_bad_links_with_the_reason(web, path, reason):
    with pytest.raises(IngestError, match=reason):
        fetch(web, path)


def test_fetch_refuses_loopback_without_the_setting_before_any_request(web):
    before = len(web.requests)
    for url in (web.url("/story.html"), f"http://localhost:{web.port}/story.html", f"http://[::1]:{web.port}/"):
        with pytest.raises(IngestError, match="loopback address: links must point to public servers"):
            fetch_url(url, max_bytes=1024, timeout=1.0)
    assert len(web.requests) == before


# ------------------------------------------------------------------ config


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("channels = ['news']", "ingest.channels must be a list of chat ids or @channel usernames. Currently, ingest.channels is ['news']"),
        ("min_post_chars = 0", "Currently, ingest.min_post_chars is 0"),
        ("post_delay = -1", "ingest.post_delay must be a number between 0.0 and 3600.0. Currently, ingest.post_delay is -1"),
        ("allow_private_urls = 'yes'", "ingest.allow_private_urls must be true or false. Currently, ingest.allow_private_urls is 'yes'"),
        ("fetch_timeout = 0", "Currently, ingest.fetch_timeout is 0"),
        ("subfolder = '../outside'", "Currently, ingest.subfolder is '../outside'"),
        ("subfolder = '.hidden'", "Currently, ingest.subfolder is '.hidden'"),
        ("subfolder = '/abs'", "Currently, ingest.subfolder is '/abs'"),
        ("max_mb = 3", "unknown setting ingest.max_mb = 3"),
    ],
)
def test_bad_ingest_settings_name_the_key_and_the_value(tmp_path, text, fragment):
    (tmp_path / "config.toml").write_text(f"[ingest]\n{text}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "config.toml")
    assert fragment in str(error.value)


def test_ingest_settings_load(tmp_path):
    (tmp_path / "config.toml").write_text(
        "[ingest]\nchannels = [-1001, '@news_desk']\nmin_post_chars = 50\npost_delay = 2\nallow_private_urls = true\n"
        "subfolder = 'from-telegram/inbox'\n",
        encoding="utf-8",
    )
    ingest = load_config(tmp_path / "config.toml").ingest
    assert ingest.channels == (-1001, "@news_desk") and ingest.post_delay == 2.0 and ingest.allow_private_urls
    assert ingest.subfolder == "from-telegram/inbox"


def test_milvus_store_keeps_sources_and_given_titles_too(tmp_path, embedder):
    from tests.test_milvus import milvus_config

    config = milvus_config(tmp_path, "milvus.db")
    inbox = SeedInbox(config.seeds.dir, "telegram")
    inbox.save_upload("notes.txt", TEXT, title="Harbour master's log")
    inbox.save_link("https://example.org/ships", "example.org-ships.txt", b"Ship register\n\nThe ship register lists the trawler Aurora, built in Bergen in 1961.\n", added_by=1)
    build_index(config, embedder)
    retriever = Retriever.open(config, embedder)
    try:
        assert dict(retriever.documents)["telegram/notes.txt"] == "Harbour master's log"
        first = retriever.answer("Where was the trawler Aurora built?").extracts[0]
        assert (first.doc, first.source) == ("telegram/links/example.org-ships.txt", "https://example.org/ships")
        assert retriever.source("telegram/notes.txt") is None
    finally:
        retriever.close()
