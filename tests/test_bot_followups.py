"""Follow-up questions through the real bot and the fake Bot API: reply chains, the private window, expiry, new topics."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.app import build_application
from index.build import build_index
from tests.fake_bot_api import BotRunner, FakeBotApi
from tests.test_bot import GROUP, OTHER_USER, RIVER, USER, ask_private, write_bot_config

HARBOUR = """# Harbour Talks

The harbour talks were co-chaired by Ines Duarte and Tomas Berg, the two port directors.

The talks were held in the city of Valletta on 12 June, in the old customs house by the quay.

The ferry union asked for longer docking hours for the night boats and a new waiting room.
"""

FAIR = """# Orchard Notes

The orchard cooperative planted four hundred pear trees on the hill above the village.

The orchard fair, with pear tastings and beekeeping stalls, was held in the city of Mdina in May.
"""

NOTE = "<i>Taking this as a follow-up to: "


class Clock:
    """A clock the test moves by hand (the bot reads it for follow-up windows)."""

    def __init__(self):
        self.now = datetime(2026, 5, 11, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def setup(tmp_path, api, embedder):
    config = write_bot_config(tmp_path, api)
    for name, text in (("harbour.md", HARBOUR), ("orchard.md", FAIR), ("river.md", RIVER)):
        (tmp_path / "seeds" / name).write_text(text, encoding="utf-8")
    build_index(config, embedder)
    return config


def start(api: FakeBotApi, config, embedder, clock) -> BotRunner:
    application = build_application(config, api.token, embedder_loader=lambda name: embedder, clock=clock)
    return BotRunner(application).start(api)


@pytest.fixture
def bot(setup, api, embedder, clock):
    runner = start(api, setup, embedder, clock)
    yield runner
    runner.stop()


def ask_group(api: FakeBotApi, text: str, *, reply_to: dict | None = None, user: int = USER):
    before = len(api.sent(GROUP))
    update = api.group_text(GROUP, user, text, reply_to=reply_to)
    api.inject(update)
    return api.wait_for(lambda: len(api.sent(GROUP)) > before and api.sent(GROUP)[before])


def test_reply_to_an_answer_in_a_group_is_answered_as_a_follow_up(bot, api):
    first = ask_group(api, "/ask Who co-chaired the harbour talks?")
    assert "Ines Duarte" in first.params["text"] and NOTE not in first.params["text"]

    # Another member replies to the bot's answer: the reply chain is the conversation.
    follow = ask_group(api, "Which city was it held in?", reply_to=first.result, user=OTHER_USER)
    text = follow.params["text"]
    assert text.startswith(NOTE + "Who co-chaired the harbour talks?</i>\n\n<b>Answer:</b>")
    assert "Valletta" in text.split("\n\n")[1]

    # A reply to the follow-up's answer carries the topic on: a third turn in the chain.
    third = ask_group(api, "What else was asked there?", reply_to=follow.result)
    assert third.params["text"].startswith(NOTE + "Which city was it held in?</i>")

    # In a group, a question that replies to nothing is never a follow-up, however soon it comes.
    mention = ask_group(api, "@cited_answers_bot Which city was it held in?")
    assert NOTE not in mention.params["text"]


def test_private_message_within_the_window_is_a_follow_up_and_after_it_is_not(bot, api, clock):
    [first] = ask_private(api, "What stalls did the orchard fair have?")
    assert "beekeeping stalls" in first.params["text"]

    clock.now += timedelta(minutes=9)
    [follow] = ask_private(api, "Which city was it held in?")
    assert follow.params["text"].startswith(NOTE + "What stalls did the orchard fair have?</i>")
    assert "Mdina" in follow.params["text"].split("\n\n")[1]

    # Ten minutes ([retrieval] follow_up_minutes) after the last answer the window has closed.
    clock.now += timedelta(minutes=10, seconds=1)
    [late] = ask_private(api, "Which city was it held in?")
    assert NOTE not in late.params["text"]

    # Replying to the old answer still makes it a follow-up: the reply says which answer.
    before = len(api.sent(USER))
    update = api.private_text(USER, "Which city was it held in?")
    update["message"]["reply_to_message"] = first.result
    api.inject(update)
    reply = api.wait_for(lambda: api.sent(USER)[before:])[0]
    assert reply.params["text"].startswith(NOTE + "What stalls did the orchard fair have?</i>")
    assert "Mdina" in reply.params["text"]


def test_new_topic_in_a_private_chat_is_answered_as_if_asked_alone(bot, api):
    question = "Who chaired the annual meeting of the river council?"
    [alone] = ask_private(api, question, user=OTHER_USER)
    [first] = ask_private(api, "Who co-chaired the harbour talks?")
    [after] = ask_private(api, question)
    assert NOTE not in after.params["text"]
    assert after.params["text"] == alone.params["text"]
    assert "Maria Lopez" in after.params["text"]


def test_follow_ups_survive_a_restart_and_are_shared_by_bot_processes(setup, api, embedder, clock):
    runner = start(api, setup, embedder, clock)
    try:
        first = ask_group(api, "/ask Who co-chaired the harbour talks?")
        [private] = ask_private(api, "What stalls did the orchard fair have?")
        api.settle(0.3)  # the turn is stored right after the reply goes out
    finally:
        runner.stop()
    # A new process (after a restart, or another one serving the same bot) reads the same state.
    runner = start(api, setup, embedder, clock)
    try:
        follow = ask_group(api, "Which city was it held in?", reply_to=first.result)
        assert follow.params["text"].startswith(NOTE + "Who co-chaired the harbour talks?</i>")
        [later] = ask_private(api, "Which city was it held in?")
        assert later.params["text"].startswith(NOTE + "What stalls did the orchard fair have?</i>")
    finally:
        runner.stop()


def test_follow_up_line_escapes_the_previous_question(bot, api):
    [first] = ask_private(api, "Who co-chaired the <b>harbour</b> talks & why?")
    [follow] = ask_private(api, "Which city was it held in?")
    assert follow.params["text"].startswith(NOTE + "Who co-chaired the &lt;b&gt;harbour&lt;/b&gt; talks &amp; why?</i>")
