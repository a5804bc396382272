"""Votes, the question log, /stats, retention, the weekly admin report and export, through the real
Application and the fake Bot API (tests/fake_bot_api.py)."""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.app import build_application
from bot.feedback import FeedbackStore
from bot.state import iso
from index.build import build_index
from retrieval.evaluate import evaluate, read_questions
from retrieval.retriever import Answer
from tests.fake_bot_api import BOT_USERNAME, BotRunner, Call, FakeBotApi, parse_telegram_html
from tests.test_bot import ADMIN, GROUP, OTHER_USER, RIVER, USER, buttons, write_bot_config

QUESTION = "Who chaired the annual meeting of the river council?"
UNANSWERABLE = "What does the manual say about quantum chromodynamics lattices?"


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Bots:
    """Starts (and restarts) the bot on one data folder, with a clock the test moves."""

    def __init__(self, api: FakeBotApi, config, embedder, clock: Clock):
        self.api, self.config, self.embedder, self.clock = api, config, embedder, clock
        self.runner: BotRunner | None = None

    def start(self) -> BotRunner:
        application = build_application(
            self.config, self.api.token, embedder_loader=lambda name: self.embedder, clock=self.clock, digest_every=0.1
        )
        self.runner = BotRunner(application).start(self.api)
        return self.runner

    def stop(self) -> None:
        if self.runner:
            self.runner.stop()
            self.runner = None

    @property
    def store(self) -> FeedbackStore:
        return self.runner.application.bot_data["feedback"].store


def make_bots(tmp_path, api, embedder, extra: str = "", now=datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)) -> Bots:
    config = write_bot_config(tmp_path, api, extra=extra)
    (config.seeds.dir / "river.md").write_text(RIVER, encoding="utf-8")
    build_index(config, embedder)
    return Bots(api, config, embedder, Clock(now))


@pytest.fixture
def bots(tmp_path, api, embedder):
    holder = make_bots(tmp_path, api, embedder)
    holder.start()
    yield holder
    holder.stop()


def ask_group(api: FakeBotApi, text: str, user: int = USER) -> Call:
    before = len(api.sent(GROUP))
    api.inject(api.group_text(GROUP, user, f"@{BOT_USERNAME} {text}"))
    return api.wait_for(lambda: len(api.sent(GROUP)) > before and api.sent(GROUP)[-1])


def ask_private(api: FakeBotApi, text: str, user: int = USER) -> Call:
    before = len(api.sent(user))
    api.inject(api.private_text(user, text))
    return api.wait_for(lambda: len(api.sent(user)) > before and api.sent(user)[-1])


def vote_buttons(reply: Call) -> dict[str, str]:
    return {b["text"]: b["callback_data"] for b in buttons(reply) if b.get("callback_data", "").startswith("vote:")}


def press(api: FakeBotApi, user: int, reply: Call, data: str) -> dict:
    """Press a button; returns the bot's answerCallbackQuery parameters."""
    update = api.button_press(user, reply, data)
    query_id = update["callback_query"]["id"]
    api.inject(update)
    [ack] = api.wait_for(lambda: [c for c in api.calls_to("answerCallbackQuery") if c.params["callback_query_id"] == query_id])
    return ack.params


def answer_id_of(reply: Call) -> int:
    return int(vote_buttons(reply)["👍 Helpful"].split(":")[1])


# ------------------------------------------------------------------ votes


def test_answers_carry_vote_buttons_and_group_votes_are_acknowledged_only_to_the_voter(bots):
    api = bots.api
    reply = ask_group(api, QUESTION)
    votes = vote_buttons(reply)
    assert list(votes) == ["👍 Helpful", "👎 Not helpful"]
    assert all(len(data.encode()) <= 64 for data in votes.values())
    assert [b["text"] for b in buttons(reply)][:3] == ["Full paragraph [1]", "Full paragraph [2]", "Full paragraph [3]"]
    sent_before = len(api.sent(GROUP))

    ack = press(api, USER, reply, votes["👍 Helpful"])
    assert ack["text"] == "Thanks! Noted as helpful." and not ack.get("show_alert")
    assert press(api, USER, reply, votes["👍 Helpful"])["text"] == "You already marked this answer helpful; it counts once."
    assert press(api, OTHER_USER, reply, votes["👎 Not helpful"])["text"] == "Thanks! Noted as not helpful."
    assert press(api, USER, reply, votes["👎 Not helpful"])["text"] == "Changed: your vote is now not helpful."
    assert bots.store.votes(answer_id_of(reply)) == (0, 2)
    api.settle(0.3)
    assert len(api.sent(GROUP)) == sent_before  # nothing about votes is posted in the group
    assert not api.calls_to("editMessageText") and not api.calls_to("editMessageReplyMarkup")


def test_votes_count_after_a_restart(tmp_path, api, embedder):
    bots = make_bots(tmp_path, api, embedder)
    bots.start()
    try:
        reply = ask_group(api, QUESTION)
        bots.stop()
        bots.start()  # the in-memory answer cache is gone; the vote needs only the logged answer
        assert press(api, USER, reply, vote_buttons(reply)["👍 Helpful"])["text"] == "Thanks! Noted as helpful."
        assert bots.store.votes(answer_id_of(reply)) == (1, 0)
    finally:
        bots.stop()


def test_forged_and_stale_vote_buttons_are_refused_politely(bots):
    api = bots.api
    group_reply = ask_group(api, QUESTION)
    private_reply = ask_private(api, QUESTION)
    group_vote = vote_buttons(group_reply)["👍 Helpful"]

    unknown = press(api, USER, private_reply, "vote:987654:1")
    assert unknown["show_alert"] is True and unknown["text"].startswith("Sorry, I no longer know that answer")
    other_chat = press(api, USER, private_reply, group_vote)  # a group's answer id, pressed in a private chat
    assert other_chat["show_alert"] is True and "another chat" in other_chat["text"]
    garbage = press(api, USER, private_reply, "vote:x:'; DROP TABLE answer_votes;--")
    assert garbage["show_alert"] is True
    assert bots.store.votes(answer_id_of(group_reply)) == (0, 0)
    assert press(api, USER, group_reply, group_vote)["text"] == "Thanks! Noted as helpful."  # the real one still works


def test_a_thousand_votes_from_a_hundred_users_are_each_counted_once(bots):
    api = bots.api
    replies = [ask_group(api, q) for q in (QUESTION, "What did the council approve a budget for?",
                                           "Which birds did volunteers count near the river mouth?",
                                           "Where will the next meeting of the river council be held?", UNANSWERABLE)]
    presses = []
    for user in range(1000, 1100):
        for reply in replies:
            data = vote_buttons(reply)["👍 Helpful" if user % 4 else "👎 Not helpful"]
            presses += [api.button_press(user, reply, data) for _ in range(2)]  # every button pressed twice
    random.Random(15).shuffle(presses)
    started = time.perf_counter()
    for update in presses:
        api.inject(update)
    api.wait_for(lambda: len(api.calls_to("answerCallbackQuery")) >= 1000, timeout=120)
    logging.getLogger(__name__).info("1000 votes acknowledged in %.1f s", time.perf_counter() - started)
    acks = [c.params["text"] for c in api.calls_to("answerCallbackQuery")]
    assert len(acks) == 1000
    assert sum(a.startswith("Thanks!") for a in acks) == 500
    assert sum(a.startswith("You already marked") for a in acks) == 500
    for reply in replies:
        assert bots.store.votes(answer_id_of(reply)) == (75, 25)


def test_not_helpful_in_private_asks_for_an_optional_reason_within_minutes(bots):
    api = bots.api
    reply = ask_private(api, QUESTION)
    press(api, USER, reply, vote_buttons(reply)["👎 Not helpful"])
    prompt = api.wait_for(lambda: [c for c in api.sent(USER) if "reply to this message" in c.params["text"]])[0]
    api.inject(api.private_text(USER, "Which birds did volunteers count near the river mouth?"))  # not a reply
    assert "herons" in api.wait_for(lambda: api.sent(USER)[-1] if api.sent(USER)[-1] is not prompt else None).params["text"]
    private = {"id": USER, "type": "private", "first_name": "Ada"}
    before = len(api.sent(USER))
    api.inject(api.message(private, USER, "It names the <chair> of another year", reply_to=prompt.result))
    thanks = api.wait_for(lambda: api.sent(USER)[before:])[0]
    assert thanks.params["text"] == "Thank you, noted. The admins will see it."
    assert bots.store.db.run("SELECT reason FROM answer_votes") == [("It names the <chair> of another year",)]

    # After the window, a reply to a second prompt is an ordinary question again.
    reply = ask_private(api, "Which birds did volunteers count near the river mouth?")
    press(api, USER, reply, vote_buttons(reply)["👎 Not helpful"])
    late = api.wait_for(lambda: [c for c in api.sent(USER) if "reply to this message" in c.params["text"]][1:])[0]
    bots.clock.now += timedelta(minutes=6)
    before = len(api.sent(USER))
    api.inject(api.message(private, USER, QUESTION, reply_to=late.result))
    answer = api.wait_for(lambda: api.sent(USER)[before:])[0]
    assert "Maria Lopez" in answer.params["text"]


def test_helpful_votes_and_group_votes_never_ask_for_a_reason(bots):
    api = bots.api
    group_reply = ask_group(api, QUESTION)
    private_reply = ask_private(api, QUESTION)
    press(api, USER, group_reply, vote_buttons(group_reply)["👎 Not helpful"])
    press(api, USER, private_reply, vote_buttons(private_reply)["👍 Helpful"])
    api.settle(0.3)
    assert not [c for c in api.sent() if "reply to this message" in c.params["text"]]


# ------------------------------------------------------------------ the log


def test_only_messages_addressed_to_the_bot_are_logged(bots):
    api = bots.api
    api.inject(api.group_text(GROUP, USER, "Who chaired the meeting? (just chatting, not to the bot)"))
    ask_group(api, QUESTION)
    api.inject(api.private_text(USER, "/ask"))  # no question: usage text, nothing logged
    ask_private(api, UNANSWERABLE)
    api.settle(0.3)
    rows = [(q.chat_type, q.question, q.answered) for q in bots.store.questions()]
    assert rows == [("supergroup", QUESTION, True), ("private", UNANSWERABLE, False)]
    [answered] = [q for q in bots.store.questions() if q.answered]
    assert (answered.doc, answered.paragraph) == ("river.md", 1) and "Maria Lopez" in answered.answer


def test_a_full_disk_never_stops_answers(bots, caplog):
    import sqlite3

    caplog.set_level(logging.ERROR, logger="bot")
    api = bots.api
    db = bots.store.db
    pages = db.run("PRAGMA page_count")[0][0]
    db.run(f"PRAGMA max_page_count = {pages}")  # the database file may not grow: SQLITE_FULL, as on a full disk
    # Fill the room left in the log's pages (table and time index) with rows like the real ones but
    # smaller, asked at the same time: a real row needs more room at the same places, and finds none.
    with pytest.raises(sqlite3.OperationalError, match="full"):
        for _ in range(10_000):
            db.run(
                "INSERT INTO question_log (asked_at, chat_hash, chat_type, question, answered, confidence) "
                "VALUES (?, ?, 'private', 'ballast', 0, 0)",
                (iso(bots.clock.now), "0" * 32),
            )
    try:
        first = ask_private(api, QUESTION)
        second = ask_private(api, "Which birds did volunteers count near the river mouth?")
        assert "Maria Lopez" in first.params["text"] and "herons" in second.params["text"]
        assert not vote_buttons(first) and not vote_buttons(second)  # answered, without votes
        assert "Full paragraph [1]" in [b["text"] for b in buttons(first)]
        failures = [r.getMessage() for r in caplog.records if "could not write the question log" in r.getMessage()]
        assert len(failures) == 2 and "full" in failures[0]
    finally:
        db.run("PRAGMA max_page_count = 1073741823")
    assert vote_buttons(ask_private(api, QUESTION))  # room again: logged, with votes


def test_retention_job_deletes_old_questions_and_their_buttons_then_refuse(bots):
    api = bots.api
    old = ask_group(api, QUESTION)
    press(api, USER, old, vote_buttons(old)["👍 Helpful"])
    bots.clock.now += timedelta(days=91)
    recent = ask_group(api, QUESTION)
    api.wait_for(lambda: len(bots.store.questions()) == 1, timeout=10)  # the next daily run deleted the old one
    assert bots.store.questions()[0].id == answer_id_of(recent)
    assert bots.store.db.run("SELECT COUNT(*) FROM answer_votes") == [(0,)]
    ack = press(api, USER, old, vote_buttons(old)["👍 Helpful"])
    assert ack["show_alert"] is True and "no longer know" in ack["text"]


# ------------------------------------------------------------------ /stats


def fill_history(store: FeedbackStore, now: datetime) -> None:
    """Thirty days of questions: more on weekdays, a few declined, some votes."""
    rng = random.Random(15)
    declined = ["When was the lighthouse built?", "when was the lighthouse built", "Who built the lighthouse?",
                "How deep is the river at the mouth?", "What is the council's phone number?"]
    sentence = "The annual meeting of the river council was chaired by Maria Lopez in Lisbon on a rainy Monday in March."
    from retrieval.retriever import Extract

    extract = Extract("river.md", "River Council Annual Report", 1, sentence, 1.0, 0, len(sentence))
    for day in range(29, -1, -1):
        when = now - timedelta(days=day, hours=1)
        busy = 8 if when.weekday() < 5 else 3
        for i in range(rng.randint(busy // 2, busy)):
            if rng.random() < 0.25:
                answer, question = Answer("q", False, confidence=0.1), rng.choice(declined)
            else:
                answer, question = Answer("q", True, extract, [extract], 0.8, extract), QUESTION
            answer_id = store.log_question(chat=USER, chat_type="private", question=question, answer=answer, now=when)
            if answer.answered and rng.random() < 0.4:
                store.vote(answer_id, chat=USER, user=2000 + i, helpful=rng.random() < 0.8, now=when)


def test_stats_is_for_admins_in_private_and_shows_figures_gaps_and_a_chart(tmp_path, api, embedder, caplog):
    caplog.set_level(logging.WARNING, logger="bot")
    bots = make_bots(tmp_path, api, embedder)
    bots.start()
    try:
        fill_history(bots.store, bots.clock.now)
        refused = ask_private(api, "/stats", user=OTHER_USER)
        assert refused.params["text"] == "Sorry, only the bot's admins can run /stats."
        assert any(f"refused /stats from user id {OTHER_USER}" in r.getMessage() for r in caplog.records)
        api.inject(api.group_text(GROUP, ADMIN, "/stats"))
        [in_group] = api.wait_for(lambda: api.sent(GROUP))
        assert in_group.params["text"] == "Statistics are for the bot's admins: send /stats to me in a private chat."

        api.inject(api.private_text(ADMIN, "/stats"))
        [photo] = api.wait_for(lambda: api.calls_to("sendPhoto"))
        [report] = [c for c in api.sent(ADMIN)]
        text = report.params["text"]
        parse_telegram_html(text)
        assert text.startswith("<b>Bot statistics</b>\n<b>Last 7 days:</b> ")
        assert "<b>Unanswered questions, most asked</b> (last 30 days; near-duplicates counted together)" in text
        first_gap = text.split("most asked</b>")[1].splitlines()[1]
        assert "lighthouse built" in first_gap  # the three lighthouse wordings, counted together, lead
        assert "1. River Council Annual Report <i>(river.md)</i>" in text
        assert "<b>Answers voted not helpful</b>" in text
        assert photo.params["chat_id"] == ADMIN and photo.params["photo"].startswith(b"\x89PNG")
        assert photo.params["caption"].startswith("Questions per day, last 30 days: ")
        # docs/stats-chart.png and the README's example come from these two files.
        (tmp_path / "stats-chart.png").write_bytes(photo.params["photo"])
        (tmp_path / "stats.txt").write_text(report.result["text"], encoding="utf-8")
    finally:
        bots.stop()


def test_stats_without_question_logging_says_what_is_not_kept(tmp_path, api, embedder):
    bots = make_bots(tmp_path, api, embedder, extra="[privacy]\nlog_questions = false\n")
    bots.start()
    try:
        ask_private(api, QUESTION)
        ask_private(api, "/stats", user=ADMIN)
        text = api.wait_for(lambda: [c for c in api.sent(ADMIN) if "Bot statistics" in c.params["text"]])[0].params["text"]
        assert "<b>Last 7 days:</b> 1 question, 100% answered; no votes." in text
        assert "Question logging is off" in text
        assert bots.store.questions()[0].question is None
    finally:
        bots.stop()


# ------------------------------------------------------------------ weekly report


def test_weekly_admin_report_goes_to_the_admins_once(tmp_path, api, embedder):
    # Sunday 29 November 2026, 20:00 UTC: the report is due on Monday at 08:00 (UTC).
    bots = make_bots(tmp_path, api, embedder, extra="[digest]\ntimes = [\"08:00\"]\nadmin_report = true\n",
                     now=datetime(2026, 11, 29, 20, 0, tzinfo=timezone.utc))
    bots.start()
    try:
        for _ in range(3):
            ask_private(api, "When was the lighthouse on the cape built?")
        ask_private(api, QUESTION)
        api.settle(0.5)
        assert not [c for c in api.sent(ADMIN) if "Weekly report" in c.params["text"]]  # not Monday yet

        bots.clock.now = datetime(2026, 11, 30, 8, 0, 30, tzinfo=timezone.utc)
        [report] = api.wait_for(lambda: [c for c in api.sent(ADMIN) if "Weekly report" in c.params["text"]])
        text = report.params["text"]
        assert "<b>Last 7 days:</b> 4 questions, 25% answered; no votes." in text
        assert "1. “When was the lighthouse on the cape built?” — 3×, last 2026-11-29" in text
        bots.stop()
        bots.start()  # a restart does not send it again
        api.settle(0.6)
        assert len([c for c in api.sent(ADMIN) if "Weekly report" in c.params["text"]]) == 1
    finally:
        bots.stop()


# ------------------------------------------------------------------ export


def test_export_turns_votes_into_an_eval_set_the_evaluator_scores(tmp_path, api, embedder, capsys):
    from bot.__main__ import main

    bots = make_bots(tmp_path, api, embedder)
    bots.start()
    try:
        reply = ask_private(api, QUESTION)
        press(api, USER, reply, vote_buttons(reply)["👍 Helpful"])
        for _ in range(2):
            ask_private(api, UNANSWERABLE)
    finally:
        bots.stop()
    out = tmp_path / "real.jsonl"
    assert main(["export", "--config", str(bots.config.path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"1 question(s) with helpful answers -> {out}" in printed
    assert "1 out-of-corpus candidate(s)" in printed and "python -m retrieval eval" in printed
    questions = read_questions(out)
    ooc = read_questions(tmp_path / "real.out-of-corpus.jsonl")
    assert [q.question for q in questions] == [QUESTION] and [q.question for q in ooc] == [UNANSWERABLE]
    [report] = evaluate(bots.config, embedder, bots.config.seeds.dir, questions, ooc, modes=["hybrid"])
    assert report.s_at_1 == 1.0 and report.out_of_corpus_declined == 1.0  # real questions as a regression test


def test_export_without_a_state_database_fails_with_one_line(tmp_path, api):
    import subprocess
    import sys

    config = write_bot_config(tmp_path, api)
    repo = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "bot", "export", "--config", str(config.path), "--out", str(tmp_path / "x.jsonl")],
        cwd=repo, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: no question log: ")
    assert not (tmp_path / "x.jsonl").exists()
