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
from index.sources import REGISTRY
from tests.fake_bot_api import BotRunner, Call, FakeBotApi, parse_telegram_html
from tests.fakes import FakeEmbedder, make_docx, make_pdf
from tests.link_server import LinkServer
from tests.test_bot import ADMIN, OTHER_USER, RIVER, USER, ask_private, write_bot_config

SECOND_ADMIN = 43
CHANNEL_ID = -1001777
CHANNEL_NAME = "harbour_news"
MB = 1024 * 1024

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
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


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
