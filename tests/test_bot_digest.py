"""Digests through the real Application and the fake Bot API, with a controllable clock."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.app import build_application
from bot.digest import document_payload
from index.build import build_index
from tests.fake_bot_api import BOT_USERNAME, BotRunner, FakeBotApi
from tests.fakes import FakeEmbedder
from tests.test_bot import ADMIN, RIVER, write_bot_config

USER = 7
GROUP = -1001234
OTHER_GROUP = -1005678
CHANNEL = "@river_news"
CHANNEL_ID = -1009999
TICK = 0.1  # seconds between digest checks in these tests

LIGHTHOUSE = """# Lighthouse Restoration Plan

The old lighthouse on the northern cape will be restored by a team of local masons over two summers.

Its lamp, dark since 1987, will shine again once new lenses arrive from a workshop in Brittany.
"""


class Clock:
    """A clock the test moves by hand; the bot reads it for digest times."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def write_config(root: Path, api: FakeBotApi, chats: str):
    digest = f"""
[digest]
chats = {chats}
times = ["08:00"]
timezone = "Europe/Lisbon"
max_items = 5
sentences = 2
"""
    return write_bot_config(root, api, extra=digest)


@pytest.fixture
def api(api):
    api.channels[CHANNEL] = CHANNEL_ID  # the fake server knows the digest channel by name
    return api


@pytest.fixture
def setup(tmp_path, api, embedder):
    config = write_config(tmp_path, api, f'[{GROUP}, "{CHANNEL}"]')
    (config.seeds.dir / "river.md").write_text(RIVER, encoding="utf-8")
    build_index(config, embedder)
    return config


class Bots:
    """Starts (and restarts) the bot against the same fake server, data folder and clock."""

    def __init__(self, api, config, embedder, clock):
        self.api, self.config, self.embedder, self.clock = api, config, embedder, clock
        self.runner: BotRunner | None = None

    def start(self) -> BotRunner:
        application = build_application(
            self.config, self.api.token, embedder_loader=lambda name: self.embedder, clock=self.clock, digest_every=TICK
        )
        self.runner = BotRunner(application).start(self.api)
        return self.runner

    def stop(self) -> None:
        if self.runner:
            self.runner.stop()
            self.runner = None


@pytest.fixture
def bots(api, setup, embedder):
    # 07:30 in Lisbon (UTC+0 in November): the 08:00 digest is half an hour away.
    clock = Clock(datetime(2026, 11, 27, 7, 30, tzinfo=timezone.utc))
    holder = Bots(api, setup, embedder, clock)
    yield holder
    holder.stop()


def digests(api, chat) -> list:
    return [c for c in api.sent(chat) if "<b>Digest</b>" in c.params["text"]]


def quiet(api, seconds=0.6):
    """Let several digest ticks pass."""
    time.sleep(seconds)


def test_digest_goes_out_at_its_time_to_each_subscribed_chat_including_a_channel(api, bots):
    bots.start()
    quiet(api)
    assert digests(api, GROUP) == [] and digests(api, CHANNEL) == []  # not yet 08:00

    bots.clock.now = datetime(2026, 11, 27, 8, 0, 5, tzinfo=timezone.utc)
    for chat in (GROUP, CHANNEL):
        [digest] = api.wait_for(lambda: digests(api, chat))
        text = digest.params["text"]
        assert "River Council Annual Report" in text and "<blockquote>" in text
        assert digest.params["parse_mode"] == "HTML"
        [button] = [b for row in digest.params["reply_markup"]["inline_keyboard"] for b in row]
        assert button["url"] == f"https://t.me/{BOT_USERNAME}?start={document_payload('river.md')}"
    quiet(api)
    assert len(digests(api, GROUP)) == 1 and len(digests(api, CHANNEL)) == 1  # exactly once


def test_next_digest_lists_only_documents_added_since(api, bots):
    bots.start()
    bots.clock.now = datetime(2026, 11, 27, 8, 1, tzinfo=timezone.utc)
    api.wait_for(lambda: digests(api, GROUP))

    (bots.config.seeds.dir / "lighthouse.md").write_text(LIGHTHOUSE, encoding="utf-8")
    api.inject(api.private_text(ADMIN, "/reindex"))
    api.wait_for(lambda: [c for c in api.calls_to("editMessageText") if "Reindexed" in c.params["text"] or "added" in c.params["text"]])

    bots.clock.now = datetime(2026, 11, 28, 8, 0, 1, tzinfo=timezone.utc)
    second = api.wait_for(lambda: len(digests(api, GROUP)) >= 2 and digests(api, GROUP)[1])
    assert "Lighthouse Restoration Plan" in second.params["text"]
    assert "River Council" not in second.params["text"]
    assert "1 new or updated document" in second.params["text"]


def test_restart_repeats_nothing_and_posts_a_missed_slot_once(api, bots, embedder):
    bots.start()
    bots.clock.now = datetime(2026, 11, 27, 8, 0, 30, tzinfo=timezone.utc)
    api.wait_for(lambda: digests(api, GROUP) and digests(api, CHANNEL))
    bots.stop()

    # Restarted the same morning: the 08:00 digest was posted, nothing goes out again.
    bots.clock.now = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
    bots.start()
    quiet(api)
    assert len(digests(api, GROUP)) == 1 and len(digests(api, CHANNEL)) == 1
    bots.stop()

    # Down over the next 08:00 while a document was added: posted once at start-up.
    (bots.config.seeds.dir / "lighthouse.md").write_text(LIGHTHOUSE, encoding="utf-8")
    build_index(bots.config, embedder)
    bots.clock.now = datetime(2026, 11, 28, 11, 0, tzinfo=timezone.utc)
    bots.start()
    api.wait_for(lambda: len(digests(api, GROUP)) == 2 and len(digests(api, CHANNEL)) == 2)
    quiet(api)
    assert len(digests(api, GROUP)) == 2 and len(digests(api, CHANNEL)) == 2
    assert "Lighthouse" in digests(api, GROUP)[1].params["text"]


def test_non_admins_cannot_digest_subscribe_or_unsubscribe(api, bots, caplog):
    caplog.set_level(logging.WARNING, logger="bot")
    bots.start()
    for command in ("/digest", "/subscribe", "/unsubscribe"):
        before = len(api.sent(OTHER_GROUP))
        api.inject(api.group_text(OTHER_GROUP, USER, command))
        [reply] = api.wait_for(lambda: api.sent(OTHER_GROUP)[before:])
        assert reply.params["text"].startswith("Sorry, only")
        name = command[1:]
        assert any(f"refused /{name} from user id {USER}" in r.getMessage() for r in caplog.records)
    store = bots.runner.application.bot_data["digest"].store
    assert str(OTHER_GROUP) not in store.subscribers() and str(GROUP) in store.subscribers()


def test_a_groups_own_administrator_can_subscribe_and_unsubscribe(api, bots):
    api.chat_admins[OTHER_GROUP] = {USER}
    bots.start()
    store = bots.runner.application.bot_data["digest"].store
    api.inject(api.group_text(OTHER_GROUP, USER, "/subscribe"))
    [reply] = api.wait_for(lambda: api.sent(OTHER_GROUP))
    assert reply.params["text"].startswith("Subscribed")
    assert str(OTHER_GROUP) in store.subscribers()
    api.inject(api.group_text(OTHER_GROUP, USER, "/unsubscribe"))
    api.wait_for(lambda: len(api.sent(OTHER_GROUP)) >= 2)
    assert str(OTHER_GROUP) not in store.subscribers()


def test_chat_that_removed_the_bot_is_unsubscribed_and_a_temporary_failure_is_retried(api, bots, caplog):
    caplog.set_level(logging.WARNING, logger="bot")
    api.removed_chats.add(GROUP)
    api.fail_next("sendMessage", 500, "Internal Server Error", times=1)  # the first attempt fails
    bots.start()
    bots.clock.now = datetime(2026, 11, 27, 8, 0, 5, tzinfo=timezone.utc)
    store = bots.runner.application.bot_data["digest"].store
    # The job unsubscribes, then logs: wait for the log line, not the store, or the check races it.
    api.wait_for(lambda: any(f"unsubscribed digest chat {GROUP}" in r.getMessage() for r in caplog.records))
    assert str(GROUP) not in store.subscribers()
    # The channel's digest failed once with a 500 and went out on a later try, once.
    api.wait_for(lambda: digests(api, CHANNEL))
    quiet(api)
    assert len(digests(api, CHANNEL)) == 1


def test_bot_removed_from_a_group_stops_its_digests(api, bots):
    bots.start()
    store = bots.runner.application.bot_data["digest"].store
    api.inject(api.bot_removed(GROUP, by_user=USER))
    api.wait_for(lambda: str(GROUP) not in store.subscribers())


def test_deep_link_start_payload_opens_the_right_document(api, bots, embedder):
    (bots.config.seeds.dir / "lighthouse.md").write_text(LIGHTHOUSE, encoding="utf-8")
    build_index(bots.config, embedder)
    bots.start()
    api.inject(api.private_text(USER, f"/start {document_payload('lighthouse.md')}"))
    [reply] = api.wait_for(lambda: api.sent(USER))
    text = reply.params["text"]
    assert text.startswith("📄 <b>Lighthouse Restoration Plan</b>")
    assert "lighthouse on the northern cape" in text and "Ask me anything about it" in text
    api.inject(api.private_text(USER, "/start doc_00000000000000000000"))
    api.wait_for(lambda: len(api.sent(USER)) >= 2)
    assert "no longer indexed" in api.sent(USER)[1].params["text"]


def test_reindex_then_digest_command_posts_the_new_document_then_nothing_new(api, bots):
    bots.start()
    bots.clock.now = datetime(2026, 11, 27, 8, 0, 5, tzinfo=timezone.utc)
    api.wait_for(lambda: digests(api, GROUP))
    (bots.config.seeds.dir / "lighthouse.md").write_text(LIGHTHOUSE, encoding="utf-8")
    api.inject(api.group_text(GROUP, ADMIN, "/reindex"))
    api.wait_for(lambda: [c for c in api.calls_to("editMessageText") if "added" in c.params["text"]])

    api.inject(api.group_text(GROUP, ADMIN, "/digest"))
    fresh = api.wait_for(lambda: len(digests(api, GROUP)) >= 2 and digests(api, GROUP)[1])
    assert "Lighthouse Restoration Plan" in fresh.params["text"]
    assert "The old lighthouse on the northern cape will be restored" in fresh.params["text"]

    api.inject(api.group_text(GROUP, ADMIN, "/digest"))
    third = api.wait_for(lambda: len(digests(api, GROUP)) >= 3 and digests(api, GROUP)[2])
    assert "nothing new" in third.params["text"]
