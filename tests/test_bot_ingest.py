"""Documents through Telegram, end to end: the real Application, the fake Bot API, a local web server.

Uploads, links, channel posts, forwarded posts and /forget, each followed by the question a
user would ask next.  The fake embedder keeps these fast.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

import pytest

from bot.app import build_application
from core.config import Config
from index.build import build_index
from index.sources import LOCK, REGISTRY
from tests.fake_bot_api import BotRunner, Call, FakeBotApi, parse_telegram_html
from tests.fakes import FakeEmbedder, make_pdf
from tests.link_server import LinkServer
from tests.test_bot import ADMIN, RIVER, USER, ask_private, write_bot_config

SECOND_ADMIN = 43
CHANNEL_ID = -1001777
CHANNEL_NAME = "harbour_news"
MB = 1_000_000  # as Telegram counts its 20 MB download limit

LIGHTHOUSE = """Lighthouse keeping notes

The lighthouse keeper Tomas Berg climbed the spiral stairs every evening to light the great lamp.

The lamp burns paraffin and turns once every twelve seconds, so ships can tell this light from others.

In winter storms the keeper logged wind speeds in a leather book kept beside the lens.
"""

POST = (
    "Ferry timetable changes from Monday\n"
    "The harbour ferry to Skerry Island will leave at seven fifteen instead of seven, because the new pier "
    "needs a slower approach during the works."
)

STORY = """<html><head><title>Quarry Museum Opens</title></head><body>
<nav>Home | News | Contact</nav>
<article><h1>Quarry Museum Opens</h1>
<p>The quarry museum opened its doors on Saturday with an exhibition of granite carving tools from 1890.</p>
<p>Visitors can try splitting a granite block with wedges under the guidance of a retired stonemason.</p>
</article></body></html>"""


def ingest_config(root: Path, api: FakeBotApi, *, admins: str = f"{ADMIN}, {SECOND_ADMIN}", ingest: str = "") -> Config:
    """A bot config with two admins and an [ingest] section (private URLs allowed: the web server is local)."""
    section = ingest or f"""
channels = [{CHANNEL_ID}, "@other_desk"]
min_post_chars = 60
post_delay = 0.2
allow_private_urls = true
fetch_timeout = 1
"""
    config = write_bot_config(root, api, extra=f"[ingest]{section}")
    text = config.path.read_text(encoding="utf-8").replace(f"admins = [{ADMIN}]", f"admins = [{admins}]")
    config.path.write_text(text, encoding="utf-8")
    from core.config import load_config

    return load_config(config.path)


def start(api: FakeBotApi, config: Config, embedder) -> BotRunner:
    application = build_application(config, api.token, embedder_loader=lambda name: embedder)
    return BotRunner(application).start(api)


@pytest.fixture
def web():
    with LinkServer(slow_seconds=5) as server:
        yield server


@pytest.fixture
def setup(tmp_path, api, embedder):
    config = ingest_config(tmp_path, api)
    (config.seeds.dir / "river.md").write_text(RIVER, encoding="utf-8")
    build_index(config, embedder)
    return config


@pytest.fixture
def bot(api, setup, embedder):
    runner = start(api, setup, embedder)
    yield runner
    runner.stop()


FINAL = ("✅", "<b>Not added", "Already indexed", "🗑", "<b>Reindex failed", "<b>Not forgotten", "I cannot add")


def final_text(api: FakeBotApi, status: Call, timeout: float = 30.0) -> str:
    """The status message's text once the bot has finished with it (its last edit, or itself)."""

    def done():
        edits = [c for c in api.calls_to("editMessageText") if c.params["message_id"] == status.result["message_id"]
                 and c.params["chat_id"] == status.params["chat_id"]]
        text = edits[-1].params["text"] if edits else status.params["text"]
        return text if text.startswith(FINAL) else None

    return api.wait_for(done, timeout)


def send_and_wait(api: FakeBotApi, update: dict, user: int = ADMIN) -> tuple[Call, str]:
    """Inject ``update`` from ``user``; return the bot's status reply and its final text."""
    before = len(api.sent(user))
    api.inject(update)
    status = api.wait_for(lambda: api.sent(user)[before:])[0]
    return status, final_text(api, status)


def upload(api: FakeBotApi, name: str | None, data: bytes, user: int = ADMIN, **kwargs) -> tuple[Call, str]:
    return send_and_wait(api, api.private_document(user, name, data, **kwargs), user)


def services_of(runner: BotRunner):
    return runner.application.bot_data["services"]


def documents(runner: BotRunner) -> list[str]:
    return [doc for doc, _ in services_of(runner).documents()]


def files_under(root: Path) -> list[str]:
    """Every file under ``root`` but the sources registry and its lock (temporary files included)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name not in (REGISTRY, LOCK))


# ------------------------------------------------------------------ uploads


def test_admin_upload_is_reported_answered_with_a_citation_then_forgotten(api, bot, setup):
    status, report = upload(api, "Lighthouse Log.md", LIGHTHOUSE.encode(), caption="Keeper's log <2026>")
    assert status.params["text"] == "Downloading <b>Lighthouse Log.md</b>…"
    # The reply: title (from the caption, escaped), the key sentences as a digest shows them, passages.
    assert report.startswith("✅ <b>Added</b>\n🆕 <b>Keeper&#x27;s log &lt;2026&gt;</b>\n<blockquote>")
    assert "The lighthouse keeper Tomas Berg climbed the spiral stairs" in report
    assert "<i>telegram/Lighthouse Log.md, paragraphs " in report
    assert re.search(r"\n\d+ passages?\. The index now has 2 documents", report)
    parse_telegram_html(report)
    # Fetched the standard way: getFile, then <base_file_url><token>/<file_path>.
    [get_file] = api.calls_to("getFile")
    [download] = api.downloads()
    assert download.params["file_path"] == get_file.result["file_path"] and get_file.at < download.at
    assert (setup.seeds.dir / "telegram" / "Lighthouse Log.md").read_text(encoding="utf-8") == LIGHTHOUSE

    [answer] = ask_private(api, "What does the lamp burn as it turns every twelve seconds?")
    assert answer.params["text"].startswith("<b>Answer:</b> The lamp burns paraffin and turns once every twelve seconds")
    assert "<i>— Keeper's log &lt;2026&gt;, paragraph " in answer.params["text"]

    # /forget in reply to the bot's report: the file leaves the seeds folder and the index.
    forget = api.private_text(ADMIN, "/forget")
    forget["message"]["reply_to_message"] = status.result
    _, gone = send_and_wait(api, forget)
    assert gone.startswith("🗑 <b>Forgotten:</b> <b>Keeper's log &lt;2026&gt;</b> (telegram/Lighthouse Log.md)")
    assert not (setup.seeds.dir / "telegram" / "Lighthouse Log.md").exists()
    assert documents(bot) == ["river.md"]
    [declined] = ask_private(api, "What does the lamp burn as it turns every twelve seconds?")
    assert declined.params["text"].startswith("<b>Not answered:</b>")


def test_upload_from_a_non_admin_is_refused_never_downloaded_and_logged(api, bot, setup, caplog):
    caplog.set_level(logging.WARNING, logger="bot")
    api.inject(api.private_document(USER, "notes.md", LIGHTHOUSE.encode()))
    [reply] = api.wait_for(lambda: api.sent(USER))
    assert reply.params["text"] == "Sorry, only the bot's admins can add documents. Ask one of them to add it for you."
    assert any(f"refused a file from user id {USER}" in r.getMessage() for r in caplog.records)
    api.inject(api.private_photo(USER))
    api.wait_for(lambda: len(api.sent(USER)) == 2)
    assert api.calls_to("getFile") == [] and api.downloads() == []
    assert not (setup.seeds.dir / "telegram").exists()


def test_files_of_other_types_are_refused_without_downloading(api, bot, setup):
    for name, mime in (("budget.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                       ("harbour.png", "image/png"), (None, "image/jpeg")):
        [reply] = ask_private_update(api, api.private_document(ADMIN, name, b"PK\x03\x04 not text", mime_type=mime))
        shown = name or "image/jpeg"
        assert reply.params["text"] == (
            f"I cannot add <b>{shown}</b>: I read text files (.txt, .md), web pages (.html, .htm), PDFs and "
            "Word files (.docx). Nothing was downloaded."
        )
    [photo] = ask_private_update(api, api.private_photo(ADMIN))
    assert photo.params["text"].startswith("A photo is not a document I can read. Send a file instead")
    assert api.calls_to("getFile") == [] and api.downloads() == []
    assert not (setup.seeds.dir / "telegram").exists()


def ask_private_update(api: FakeBotApi, update: dict, user: int = ADMIN) -> list[Call]:
    before = len(api.sent(user))
    api.inject(update)
    return api.wait_for(lambda: api.sent(user)[before:])


def test_scanned_pdf_empty_file_and_text_in_disguise_are_not_added_and_nothing_is_saved(api, bot, setup):
    _, scanned = upload(api, "scan.pdf", make_pdf([[], []]))
    assert scanned == "<b>Not added:</b> scan.pdf: no text layer in the PDF (a scanned document?). Nothing was saved."
    [empty] = ask_private_update(api, api.private_document(ADMIN, "empty.txt", b""))
    assert empty.params["text"] == "I cannot add <b>empty.txt</b>: the file is empty."
    _, binary = upload(api, "fake.txt", b"\x00\x01\x02binary")
    assert binary.startswith("<b>Not added:</b> fake.txt: binary file")
    assert files_under(setup.seeds.dir) == ["river.md"]
    assert documents(bot) == ["river.md"]


def test_hostile_file_names_are_stored_under_safe_names_inside_the_seeds_folder(api, bot, setup, tmp_path):
    names = {
        "../../etc/passwd.txt": "telegram/passwd.txt",
        "..\\..\\evil.md": "telegram/evil.md",
        "bad\x07na\u202eme\n.md": "telegram/bad_na_me.md",
        ".hidden.txt": "telegram/hidden.txt",
        "..": None,
    }
    for number, (name, stored) in enumerate(names.items()):
        text = f"Document number {number} about signal flags, semaphore towers and coastal telegraph lines.\n"
        _, report = upload(api, name, text.encode(), mime_type="text/plain")
        if stored is None:
            assert report.startswith("✅ <b>Added</b>") and "telegram/document.txt" in report
            stored = "telegram/document.txt"
        else:
            assert report.startswith("✅ <b>Added</b>") and f"<i>{stored}, paragraph" in report
        assert (setup.seeds.dir / stored).read_text(encoding="utf-8") == text
    inside = files_under(setup.seeds.dir)
    assert inside == sorted(["river.md", "telegram/document.txt", "telegram/bad_na_me.md", "telegram/evil.md",
                             "telegram/hidden.txt", "telegram/passwd.txt"])
    assert not (tmp_path / "etc").exists() and not (tmp_path.parent / "etc" / "passwd.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "data", "seeds"]  # nothing beside the seeds


def test_same_content_is_not_indexed_twice_and_a_new_version_replaces_the_old(api, bot, setup):
    _, first = upload(api, "log.md", LIGHTHOUSE.encode())
    assert first.startswith("✅ <b>Added</b>")
    _, again = upload(api, "copy of log.md", LIGHTHOUSE.encode())
    assert again == "Already indexed: this is the same content as <b>Lighthouse keeping notes</b> (telegram/log.md). Nothing was added twice."
    _, same = upload(api, "log.md", LIGHTHOUSE.encode())
    assert same == "Already indexed, unchanged: <b>Lighthouse keeping notes</b> (telegram/log.md)."
    newer = LIGHTHOUSE.replace("twelve seconds", "twenty seconds")
    _, changed = upload(api, "log.md", newer.encode())
    assert changed.startswith("✅ <b>Updated (replaces the previous version)</b>\n✏️ <b>Lighthouse keeping notes</b>")
    assert files_under(setup.seeds.dir / "telegram") == ["log.md"]
    [answer] = ask_private(api, "What does the lamp burn as it turns every twenty seconds?")
    assert "turns once every twenty seconds" in answer.params["text"]


def test_files_over_the_bot_api_download_limit_are_refused_with_the_reason(api, bot, setup):
    # The size is in the message: no getFile at all.
    [big] = ask_private_update(api, api.private_document(ADMIN, "atlas.pdf", b"%PDF-1.4", file_size=25 * MB))
    text = big.params["text"]
    assert text.startswith("I cannot add <b>atlas.pdf</b>: it is 25.0 MB. Telegram's public Bot API lets bots download files of up to 20 MB")
    assert "self-hosted Bot API server" in text
    assert api.calls_to("getFile") == []
    # The size is not in the message: getFile refuses ("file is too big"), the bot says why and carries on.
    update = api.private_document(ADMIN, "atlas2.pdf", b"%PDF-1.4", file_size=30 * MB)
    del update["message"]["document"]["file_size"]
    _, refused = send_and_wait(api, update)
    assert "Telegram's public Bot API lets bots download files of up to 20 MB" in refused
    assert [c.status for c in api.calls_to("getFile", ok_only=False)] == [400] and api.downloads() == []
    assert files_under(setup.seeds.dir) == ["river.md"]


def test_download_cut_halfway_leaves_nothing_in_the_seeds_folder_and_a_resend_works(api, bot, setup):
    api.cut_next_download()
    data = (LIGHTHOUSE * 40).encode()
    _, failed = upload(api, "long log.md", data)
    assert failed == "<b>Not added:</b> the download of <b>long log.md</b> failed (Telegram did not deliver it completely). Nothing was saved; please send it again."
    assert files_under(setup.seeds.dir) == ["river.md"]  # no partial file, no temporary file
    _, report = upload(api, "long log.md", data)
    assert report.startswith("✅ <b>Added</b>")
    assert (setup.seeds.dir / "telegram" / "long log.md").read_bytes() == data


class GateOnText(FakeEmbedder):
    """Holds the build thread when it embeds a text containing ``word`` until released."""

    def __init__(self, word: str):
        super().__init__(dimension=1024)
        self.word = word
        self.blocked = threading.Event()
        self.release = threading.Event()

    def encode(self, texts, **kwargs):
        if not self.release.is_set() and any(self.word in t for t in texts):
            self.blocked.set()
            self.release.wait(30)
        return super().encode(texts, **kwargs)


def test_two_admins_uploading_at_once_are_both_indexed_one_build_after_the_other(tmp_path, api):
    embedder = GateOnText("spiral")
    config = ingest_config(tmp_path, api)
    (config.seeds.dir / "river.md").write_text(RIVER, encoding="utf-8")
    build_index(config, embedder)
    runner = start(api, config, embedder)
    try:
        api.inject(api.private_document(ADMIN, "lighthouse.md", LIGHTHOUSE.encode()))
        assert embedder.blocked.wait(20), "the first build never started"
        # While the first admin's build runs, the second admin uploads: it waits for the next build.
        api.inject(api.private_document(SECOND_ADMIN, "quarry.txt", b"Quarry notes\n\nGranite from the quarry was split with iron wedges and feathers.\n"))
        status = api.wait_for(lambda: api.sent(SECOND_ADMIN))[0]
        api.wait_for(lambda: (config.seeds.dir / "telegram" / "quarry.txt").exists())  # saved while the build runs
        embedder.release.set()
        first = final_text(api, api.sent(ADMIN)[0])
        second = final_text(api, status)
        assert first.startswith("✅ <b>Added</b>") and "telegram/lighthouse.md" in first
        assert second.startswith("✅ <b>Added</b>") and "telegram/quarry.txt" in second
        assert runner.application.bot_data["ingest"].builds.builds == 2
        assert documents(runner) == ["river.md", "telegram/lighthouse.md", "telegram/quarry.txt"]
        [answer] = ask_private(api, "What was granite from the quarry split with?")
        assert "iron wedges" in answer.params["text"]
    finally:
        embedder.release.set()
        runner.stop()


# ------------------------------------------------------------------ links


def test_admin_link_is_fetched_indexed_and_cited_with_its_url(api, bot, setup, web):
    web.pages["/news/quarry-museum.html"] = ("text/html; charset=utf-8", STORY.encode())
    url = web.url("/news/quarry-museum.html")
    status, report = send_and_wait(api, api.private_text(ADMIN, url))
    assert status.params["text"] == f'Fetching <a href="{url}">{url}</a>…'
    assert report.startswith(f'✅ <b>Added</b>\n🆕 <b><a href="{url}">Quarry Museum Opens</a></b>')
    assert "Home | News" not in report  # the page's menu is not the document
    [stored] = files_under(setup.seeds.dir / "telegram" / "links")
    assert stored.startswith("127.0.0.1-quarry-museum-") and stored.endswith(".html")

    [answer] = ask_private(api, "What did the quarry museum exhibition show on Saturday?")
    text = answer.params["text"]
    assert text.startswith("<b>Answer:</b> The quarry museum opened its doors on Saturday")
    assert f'<i>— <a href="{url}">Quarry Museum Opens</a>, paragraph 1</i>' in text
    assert f'<b>[1]</b> <a href="{url}">Quarry Museum Opens</a>, paragraph 1' in text

    [listing] = ask_private(api, "/sources", user=USER)
    assert f'2. <a href="{url}">Quarry Museum Opens</a> <i>(telegram/links/{stored})</i>' in listing.params["text"]

    # /add works too, here for a PDF; the same link twice is indexed once.
    web.pages["/report.pdf"] = ("application/pdf", make_pdf([["Tide Report", "High tide at the harbour mouth reached 4.2 metres on the first of May."]]))
    _, pdf = send_and_wait(api, api.private_text(ADMIN, f"/add {web.url('/report.pdf')}"))
    assert pdf.startswith(f'✅ <b>Added</b>\n🆕 <b><a href="{web.url("/report.pdf")}">Tide Report</a></b>')
    _, twice = send_and_wait(api, api.private_text(ADMIN, url))
    assert twice.startswith("Already indexed, unchanged: <b>Quarry Museum Opens</b>")


def test_bad_links_are_refused_with_the_reason_and_nothing_is_saved(api, bot, setup, web):
    web.pages["/harbour.png"] = ("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    cases = {
        "/slow": "the server did not answer within 1 s",
        "/loop": "the link redirects more than 5 times",
        "/hops/6": "the link redirects more than 5 times",
        "/missing": "the server answered 404 Not Found",
        "/huge": "the document is 2.0 GB; at most 20 MB can be added ([seeds] max_file_mb)",
        "/half": "the download broke off after 10000 bytes",
        "/harbour.png": "the link is image/png, not a web page, PDF, Word file or text",
    }
    for path, reason in cases.items():
        url = web.url(path)
        _, text = send_and_wait(api, api.private_text(ADMIN, url))
        assert text.startswith(f"<b>Not added:</b> {url}: {reason}"), (path, text)
    _, bad = send_and_wait(api, api.private_text(ADMIN, "/add ftp://example.org/file.txt"))
    assert bad == "<b>Not added:</b> ftp://example.org/file.txt: only http and https links can be added, not 'ftp'. Nothing was saved."
    _, hops = send_and_wait(api, api.private_text(ADMIN, web.url("/hops/5")))
    assert hops.startswith("✅ <b>Added</b>")  # five redirects are fine
    assert files_under(setup.seeds.dir) == ["river.md", "telegram/links/" + files_under(setup.seeds.dir / "telegram" / "links")[0]]


def test_link_to_the_hosts_own_network_is_refused_unless_allowed(tmp_path, api, embedder, web):
    config = ingest_config(tmp_path, api, ingest="\nallow_private_urls = false\n")
    (config.seeds.dir / "river.md").write_text(RIVER, encoding="utf-8")
    build_index(config, embedder)
    runner = start(api, config, embedder)
    try:
        web.pages["/story.html"] = ("text/html", STORY.encode())
        for url in (web.url("/story.html"), f"http://localhost:{web.port}/story.html"):
            _, text = send_and_wait(api, api.private_text(ADMIN, url))
            assert "is a loopback address: links must point to public servers" in text and "allow_private_urls" in text
        assert web.requests == []  # refused before any request was made
    finally:
        runner.stop()


def test_a_link_from_a_non_admin_is_a_question_and_add_is_refused(api, bot, web, caplog):
    caplog.set_level(logging.WARNING, logger="bot")
    web.pages["/story.html"] = ("text/html", STORY.encode())
    [reply] = ask_private(api, web.url("/story.html"))
    assert reply.params["text"].startswith("<b>Not answered:</b>")
    [refused] = ask_private(api, f"/add {web.url('/story.html')}")
    assert refused.params["text"] == "Sorry, only the bot's admins can run /add."
    assert web.requests == []
    assert any(f"refused /add from user id {USER}" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------ channel posts


def wait_indexed(runner: BotRunner, doc: str, present: bool = True, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while (doc in documents(runner)) != present:
        assert time.monotonic() < deadline, f"{doc} {'never indexed' if present else 'still indexed'}"
        time.sleep(0.05)


def post_name(message_id: int) -> str:
    return f"telegram/posts/{abs(CHANNEL_ID)}-{message_id}.txt"


def test_channel_post_is_answered_with_its_link_edited_and_forgotten(api, bot, setup):
    channel = api.channel(CHANNEL_ID, CHANNEL_NAME)
    post = api.channel_post(channel, POST, message_id=41)
    api.inject(post)
    wait_indexed(bot, post_name(41))
    link = f"https://t.me/{CHANNEL_NAME}/41"
    [answer] = ask_private(api, "When will the harbour ferry to Skerry Island leave?", user=USER)
    text = answer.params["text"]
    assert text.startswith("<b>Answer:</b> The harbour ferry to Skerry Island will leave at seven fifteen")
    assert f'<i>— <a href="{link}">Ferry timetable changes from Monday</a>, paragraph ' in text

    api.inject(api.edited_channel_post(post, POST.replace("seven fifteen", "half past seven")))
    api.wait_for(lambda: "half past seven" in (setup.seeds.dir / post_name(41)).read_text(encoding="utf-8"))
    deadline = time.monotonic() + 90  # a wait for a rebuild on a loaded machine, not a timing check
    while "half past seven" not in ask_private(api, "When will the harbour ferry to Skerry Island leave?", user=USER)[0].params["text"]:
        assert time.monotonic() < deadline, "the edit never reached the index"
        time.sleep(0.1)

    # /forget <number> from /sources.
    [listing] = ask_private(api, "/sources", user=ADMIN)
    assert f'2. <a href="{link}">Ferry timetable changes from Monday</a> <i>({post_name(41)})</i>' in listing.params["text"]
    _, gone = send_and_wait(api, api.private_text(ADMIN, "/forget 2"))
    assert gone.startswith(f"🗑 <b>Forgotten:</b> <b>Ferry timetable changes from Monday</b> ({post_name(41)})")
    [declined] = ask_private(api, "When will the harbour ferry to Skerry Island leave?", user=USER)
    assert declined.params["text"].startswith("<b>Not answered:</b>")
    assert not (setup.seeds.dir / post_name(41)).exists()


def test_a_burst_of_fifty_posts_costs_one_build(tmp_path, api, embedder, caplog):
    caplog.set_level(logging.INFO, logger="index.build")
    config = ingest_config(tmp_path, api, ingest=f"\nchannels = [{CHANNEL_ID}]\nmin_post_chars = 60\npost_delay = 2\n")
    (config.seeds.dir / "river.md").write_text(RIVER, encoding="utf-8")
    build_index(config, embedder)
    runner = start(api, config, embedder)
    try:
        channel = api.channel(CHANNEL_ID, CHANNEL_NAME)
        for n in range(50):
            api.inject(api.channel_post(channel, f"Harbour notice {n}\nBerth {n} is closed for dredging until the pilot boat survey of berth {n} ends.", message_id=100 + n))
        api.wait_for(lambda: len(list((config.seeds.dir / "telegram" / "posts").glob("*.txt"))) == 50 if (config.seeds.dir / "telegram" / "posts").exists() else False)
        wait_indexed(runner, post_name(149))
        assert len(documents(runner)) == 51
        assert runner.application.bot_data["ingest"].builds.builds == 1
    finally:
        runner.stop()


def test_a_post_edited_five_times_in_a_second_ends_as_its_last_version(api, bot, setup):
    channel = api.channel(CHANNEL_ID, CHANNEL_NAME)
    post = api.channel_post(channel, POST, message_id=7)
    api.inject(post)
    for n in range(1, 6):
        api.inject(api.edited_channel_post(post, POST.replace("seven fifteen", f"edit number {n}")))
    wait_indexed(bot, post_name(7))
    api.wait_for(lambda: "edit number 5" in (setup.seeds.dir / post_name(7)).read_text(encoding="utf-8"))
    deadline = time.monotonic() + 90  # a wait for a rebuild on a loaded machine, not a timing check
    while "edit number 5" not in ask_private(api, "When will the harbour ferry to Skerry Island leave?", user=USER)[0].params["text"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert files_under(setup.seeds.dir / "telegram" / "posts") == [post_name(7).rsplit("/", 1)[1]]


def test_short_posts_posts_of_other_channels_and_short_edits_are_not_documents(api, bot, setup):
    mine = api.channel(CHANNEL_ID, CHANNEL_NAME)
    api.inject(api.channel_post(mine, "Good morning!", message_id=1))
    api.inject(api.channel_post(api.channel(-1009999, "elsewhere"), POST, message_id=2))
    post = api.channel_post(mine, POST, message_id=3)
    api.inject(post)
    wait_indexed(bot, post_name(3))
    assert documents(bot) == ["river.md", post_name(3)]
    api.inject(api.edited_channel_post(post, "Deleted."))  # edited down to nothing: no longer a document
    wait_indexed(bot, post_name(3), present=False)


def test_forwarded_post_is_indexed_with_the_original_link_and_forget_in_reply_removes_it(api, bot, setup):
    elsewhere = api.channel(-1002468, "island_weekly")
    old_post = api.channel_post(elsewhere, POST, message_id=1999)
    status, report = send_and_wait(api, api.forwarded_post(ADMIN, old_post))
    link = "https://t.me/island_weekly/1999"
    assert report.startswith(f'✅ <b>Added</b>\n🆕 <b><a href="{link}">Ferry timetable changes from Monday</a></b>')
    [answer] = ask_private(api, "When will the harbour ferry to Skerry Island leave?", user=USER)
    assert f'<a href="{link}">Ferry timetable changes from Monday</a>' in answer.params["text"]

    forward = api.forwarded_post(ADMIN, old_post)["message"]  # reply /forget to the forwarded post itself
    forget = api.private_text(ADMIN, "/forget")
    forget["message"]["reply_to_message"] = forward
    _, gone = send_and_wait(api, forget)
    assert gone.startswith("🗑 <b>Forgotten:</b>")
    assert documents(bot) == ["river.md"]


def test_forget_refuses_non_admins_and_explains_itself(api, bot, setup, caplog):
    caplog.set_level(logging.WARNING, logger="bot")
    [refused] = ask_private(api, "/forget 1", user=USER)
    assert refused.params["text"] == "Sorry, only the bot's admins can run /forget."
    assert any(f"refused /forget from user id {USER}" in r.getMessage() for r in caplog.records)
    assert documents(bot) == ["river.md"]
    [usage] = ask_private(api, "/forget", user=ADMIN)
    assert usage.params["text"].startswith("Which document? Reply <code>/forget</code> to the upload")
    [unknown] = ask_private(api, "/forget 9", user=ADMIN)
    assert unknown.params["text"] == "I know no document 9. /sources lists them with their numbers."


def test_bot_asks_telegram_for_channel_posts(api, bot):
    api.wait_for(lambda: api.allowed_updates)
    assert {"channel_post", "edited_channel_post", "message"} <= set(api.allowed_updates)


def test_posts_forget_in_the_channel_removes_the_post_it_replies_to(api, bot, setup):
    channel = api.channel(CHANNEL_ID, CHANNEL_NAME)
    post = api.channel_post(channel, POST, message_id=12)
    api.inject(post)
    wait_indexed(bot, post_name(12))
    api.inject(api.channel_post(channel, "/forget", message_id=13, reply_to=post["channel_post"]))
    wait_indexed(bot, post_name(12), present=False)
    assert not (setup.seeds.dir / post_name(12)).exists()
    assert api.sent(CHANNEL_ID) == []  # nothing is posted in the channel


# ------------------------------------------------------------------ digests


def test_digest_lists_documents_from_every_route_with_their_links_but_not_forgotten_ones(tmp_path, api, embedder, web):
    from datetime import datetime, timezone

    from tests.test_bot_digest import Clock

    group = -1004321
    config = ingest_config(tmp_path, api)
    text = config.path.read_text(encoding="utf-8") + f'\n[digest]\nchats = [{group}]\ntimes = ["08:00"]\nsentences = 2\n'
    config.path.write_text(text, encoding="utf-8")
    from core.config import load_config

    config = load_config(config.path)
    (config.seeds.dir / "river.md").write_text(RIVER, encoding="utf-8")
    build_index(config, embedder)
    clock = Clock(datetime(2026, 11, 27, 7, 30, tzinfo=timezone.utc))
    application = build_application(config, api.token, embedder_loader=lambda name: embedder, clock=clock, digest_every=0.1)
    runner = BotRunner(application).start(api)
    try:
        clock.now = datetime(2026, 11, 27, 8, 0, 5, tzinfo=timezone.utc)  # the first digest: the river report
        api.wait_for(lambda: [c for c in api.sent(group) if "<b>Digest</b>" in c.params["text"]])
        clock.now = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)

        web.pages["/story.html"] = ("text/html", STORY.encode())
        send_and_wait(api, api.private_text(ADMIN, web.url("/story.html")))
        api.inject(api.channel_post(api.channel(CHANNEL_ID, CHANNEL_NAME), POST, message_id=5))
        wait_indexed(runner, post_name(5))
        status, _ = upload(api, "lighthouse.md", LIGHTHOUSE.encode())
        forget = api.private_text(ADMIN, "/forget")
        forget["message"]["reply_to_message"] = status.result
        send_and_wait(api, forget)

        clock.now = datetime(2026, 11, 28, 8, 0, 5, tzinfo=timezone.utc)
        digest = api.wait_for(lambda: [c for c in api.sent(group) if "<b>Digest</b>" in c.params["text"]][1:])[0]
        text = digest.params["text"]
        assert "2 new or updated documents" in text
        assert f'<b><a href="{web.url("/story.html")}">Quarry Museum Opens</a></b>' in text
        assert f'<b><a href="https://t.me/{CHANNEL_NAME}/5">Ferry timetable changes from Monday</a></b>' in text
        assert "Lighthouse" not in text and "River Council" not in text
        parse_telegram_html(text)
    finally:
        runner.stop()
