"""The question log, votes, retention, grouping of unanswered questions, /stats figures, export, the chart."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot import feedback_render
from bot.export import export_eval_set
from bot.feedback import FeedbackStore, Vote
from bot.feedback_handlers import weekly_slot
from bot.state import StateDB
from bot.stats import collect_stats, group_questions, question_key
from core.config import PrivacyConfig, load_config
from core.errors import ConfigError
from retrieval.evaluate import read_questions
from retrieval.retriever import Answer, Extract

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
GROUP = -1001234


def answered(sentence: str, doc: str = "river.md", paragraph: int = 1, confidence: float = 0.9) -> Answer:
    extract = Extract(doc, "River Council Annual Report", paragraph, sentence, 1.0, 0, len(sentence))
    return Answer("q", True, extract, [extract], confidence, extract)


def declined(confidence: float = 0.1) -> Answer:
    return Answer("q", False, None, [], confidence, None)


@pytest.fixture
def db(tmp_path):
    state = StateDB.open_sqlite(tmp_path / "state.sqlite")
    yield state
    state.close()


@pytest.fixture
def store(db):
    return FeedbackStore(db, PrivacyConfig())


# ------------------------------------------------------------------ log and votes


def test_log_keeps_question_answer_and_citation_but_no_ids(store, db):
    answer_id = store.log_question(
        chat=GROUP, chat_type="supergroup", question="  Who chaired\nthe meeting? ", answer=answered("Maria chaired it."), now=NOW
    )
    [row] = store.questions()
    assert (row.id, row.chat_type, row.question, row.answered, row.doc, row.paragraph, row.answer) == (
        answer_id, "supergroup", "Who chaired the meeting?", True, "river.md", 1, "Maria chaired it."
    )
    dump = "\n".join(str(r) for r in db.run("SELECT * FROM question_log")) + str(db.run("SELECT * FROM feedback_meta"))
    assert str(GROUP) not in dump and "1001234" not in dump  # the chat id is kept only as a salted hash


def test_without_question_logging_only_counts_are_kept(db):
    store = FeedbackStore(db, PrivacyConfig(log_questions=False))
    answer_id = store.log_question(chat=7, chat_type="private", question="Who chaired?", answer=answered("Maria."), now=NOW)
    [row] = store.questions()
    assert (row.question, row.doc, row.answer, row.answered) == (None, None, None, True)
    assert store.vote(answer_id, chat=7, user=7, helpful=False, now=NOW) is Vote.RECORDED
    assert store.add_reason(answer_id, user=7, reason="wrong person") is False  # no free text kept either
    assert db.run("SELECT reason FROM answer_votes") == [(None,)]


def test_one_vote_per_person_and_answer_changeable(store):
    answer_id = store.log_question(chat=GROUP, chat_type="supergroup", question="Q?", answer=answered("A."), now=NOW)
    assert store.vote(answer_id, chat=GROUP, user=7, helpful=True, now=NOW) is Vote.RECORDED
    assert store.vote(answer_id, chat=GROUP, user=7, helpful=True, now=NOW) is Vote.UNCHANGED
    assert store.vote(answer_id, chat=GROUP, user=8, helpful=True, now=NOW) is Vote.RECORDED
    assert store.votes(answer_id) == (2, 0)
    assert store.vote(answer_id, chat=GROUP, user=7, helpful=False, now=NOW) is Vote.CHANGED
    assert store.votes(answer_id) == (1, 1)


def test_votes_on_unknown_or_other_chats_answers_are_refused(store):
    answer_id = store.log_question(chat=GROUP, chat_type="supergroup", question="Q?", answer=answered("A."), now=NOW)
    assert store.vote(answer_id + 1000, chat=GROUP, user=7, helpful=True, now=NOW) is Vote.UNKNOWN
    assert store.vote(answer_id, chat=-100999, user=7, helpful=True, now=NOW) is Vote.OTHER_CHAT
    assert store.votes(answer_id) == (0, 0)


def test_salt_is_made_once_and_shared_by_every_store_on_the_database(db, tmp_path):
    first = FeedbackStore(db, PrivacyConfig())
    other = StateDB.open_sqlite(tmp_path / "state.sqlite")  # a second bot process on the same file
    try:
        second = FeedbackStore(other, PrivacyConfig())
        assert first.hash("user", 7) == second.hash("user", 7) != first.hash("chat", 7)
    finally:
        other.close()
    fresh = StateDB.open_sqlite(tmp_path / "elsewhere.sqlite")
    try:
        assert FeedbackStore(fresh, PrivacyConfig()).hash("user", 7) != first.hash("user", 7)  # random per database
    finally:
        fresh.close()


def test_concurrent_votes_from_threads_count_each_person_once(store):
    ids = [store.log_question(chat=GROUP, chat_type="supergroup", question=f"Q{i}?", answer=answered("A."), now=NOW) for i in range(5)]
    outcomes = []
    lock = threading.Lock()

    def press(user):
        for answer_id in ids:
            for _ in range(2):  # every button pressed twice
                outcome = store.vote(answer_id, chat=GROUP, user=user, helpful=user % 3 != 0, now=NOW)
                with lock:
                    outcomes.append(outcome)

    threads = [threading.Thread(target=press, args=(user,)) for user in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 1000
    assert outcomes.count(Vote.RECORDED) == 500 and outcomes.count(Vote.UNCHANGED) == 500
    for answer_id in ids:
        assert store.votes(answer_id) == (66, 34)  # users 0..99: 34 of them are multiples of 3


def test_retention_deletes_old_rows_and_their_votes_only(store, db):
    old = store.log_question(chat=7, chat_type="private", question="Old?", answer=answered("A."), now=NOW - timedelta(days=91))
    edge = store.log_question(chat=7, chat_type="private", question="Edge?", answer=answered("A."), now=NOW - timedelta(days=89))
    store.vote(old, chat=7, user=7, helpful=True, now=NOW - timedelta(days=91))
    store.vote(edge, chat=7, user=7, helpful=True, now=NOW)
    assert store.purge(NOW) == 1
    assert [q.question for q in store.questions()] == ["Edge?"]
    assert db.run("SELECT question_id FROM answer_votes") == [(edge,)]
    assert store.vote(old, chat=7, user=7, helpful=False, now=NOW) is Vote.UNKNOWN  # its buttons now refuse politely


def test_job_claims_are_taken_once_across_processes(db, tmp_path):
    first = FeedbackStore(db, PrivacyConfig())
    other = StateDB.open_sqlite(tmp_path / "state.sqlite")
    try:
        second = FeedbackStore(other, PrivacyConfig())
        daily = lambda last: NOW if last is None or NOW - last >= timedelta(days=1) else None  # noqa: E731
        assert first.claim("retention", daily) == (None, NOW)
        assert second.claim("retention", daily) is None  # already done today, by the other process
        later = NOW + timedelta(days=1)
        daily_later = lambda last: later if last is None or later - last >= timedelta(days=1) else None  # noqa: E731
        assert second.claim("retention", daily_later) == (NOW, later)
        assert first.claim("retention", daily_later) is None
    finally:
        other.close()


def test_question_log_survives_kill_9_of_the_bot_process(tmp_path):
    path = tmp_path / "state.sqlite"
    script = f"""
import os, signal
from datetime import datetime, timezone
from pathlib import Path
from bot.feedback import FeedbackStore
from bot.state import StateDB
from core.config import PrivacyConfig
from retrieval.retriever import Answer
db = StateDB.open_sqlite(Path({str(path)!r}))
store = FeedbackStore(db, PrivacyConfig())
now = datetime(2026, 12, 1, tzinfo=timezone.utc)
for i in range(30):
    store.log_question(chat=7, chat_type="private", question=f"Question {{i}}?", answer=Answer("q", False), now=now)
    store.vote(i + 1, chat=7, user=7, helpful=True, now=now)
with db.transaction() as tx:
    tx.run("INSERT INTO question_log (asked_at, chat_hash, chat_type, question, answered, confidence) VALUES ('x', 'h', 'private', 'lost', 0, 0)")
    os.kill(os.getpid(), signal.SIGKILL)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == -9, result.stderr.decode()
    db = StateDB.open_sqlite(path)
    try:
        assert db.run("PRAGMA integrity_check") == [("ok",)]
        store = FeedbackStore(db, PrivacyConfig())
        assert [q.question for q in store.questions()] == [f"Question {i}?" for i in range(30)]
        assert db.run("SELECT COUNT(*) FROM answer_votes") == [(30,)]
    finally:
        db.close()


# ------------------------------------------------------------------ grouping and figures


def test_near_duplicate_questions_are_grouped_and_different_ones_kept_apart():
    t = [NOW - timedelta(hours=h) for h in range(10)]
    groups = group_questions(
        [
            ("When was the lighthouse built?", t[5]),
            ("when was the lighthouse built", t[4]),
            ("Hey bot, please tell me when the lighthouse was built?", t[3]),
            ("Who built the lighthouse?", t[1]),
            ("When was the old lighthouse built?", t[2]),  # one content word of three differs: apart
            ("Who chaired the 2019 meeting?", t[6]),
            ("Who chaired the 2020 meeting?", t[0]),
            ("How tall is the lighthouse tower on the northern cape?", t[7]),
        ]
    )
    assert [(g.question, g.count, g.last_asked) for g in groups] == [
        ("when was the lighthouse built", 4, t[1]),  # the wording asked most (latest of equals) stands for the group
        ("Who chaired the 2020 meeting?", 1, t[0]),
        ("When was the old lighthouse built?", 1, t[2]),
        ("Who chaired the 2019 meeting?", 1, t[6]),
        ("How tall is the lighthouse tower on the northern cape?", 1, t[7]),
    ]
    # Four content words, one added: 3/4 shared, one group.
    [group] = group_questions([("Who chaired the river council meeting?", t[1]), ("Who chaired the annual river council meeting?", t[0])])
    assert group.count == 2


def test_question_key_ignores_case_punctuation_articles_and_chat_filler():
    assert question_key("Please tell me: WHO chaired the meeting?!") == question_key("who chaired meeting")
    assert question_key("What is it?") == frozenset({"what", "is", "it"})  # no content words: all words


def test_stats_count_periods_unanswered_groups_cited_documents_and_disputed_answers(store, db):
    def ask(days_ago, question, answer, votes=()):
        answer_id = store.log_question(chat=7, chat_type="private", question=question, answer=answer, now=NOW - timedelta(days=days_ago))
        for user, helpful in votes:
            store.vote(answer_id, chat=7, user=user, helpful=helpful, now=NOW)
            if not helpful:
                store.add_reason(answer_id, user=user, reason=f"reason from {user}")
        return answer_id

    ask(1, "Who chaired the meeting?", answered("Maria chaired it.", "river.md", 1), [(1, True), (2, True)])
    ask(2, "Who chaired the meeting?", answered("Maria chaired it.", "river.md", 1), [(3, False)])
    ask(3, "When is the next meeting?", answered("In spring.", "river.md", 4), [(1, False), (2, False)])
    ask(10, "What did the volunteers count?", answered("Birds.", "birds.md", 2), [(4, True)])
    ask(1, "When was the lighthouse built?", declined())
    ask(12, "when was lighthouse built", declined())
    ask(40, "Who built the pier?", declined())  # outside both periods
    stats = collect_stats(db, NOW, log_questions=True)
    week, month = stats.periods
    assert (week.questions, week.answered, week.votes, week.helpful) == (4, 3, 5, 2)
    assert (month.questions, month.answered, month.votes, month.helpful) == (6, 4, 6, 3)
    assert [(g.question, g.count) for g in stats.unanswered] == [("When was the lighthouse built?", 2)]
    assert [(d.doc, d.answers) for d in stats.cited] == [("river.md", 3), ("birds.md", 1)]
    assert [(d.answer, d.unhelpful, d.helpful) for d in stats.disputed] == [("In spring.", 2, 0), ("Maria chaired it.", 1, 2)]
    assert sorted(stats.disputed[0].reasons) == ["reason from 1", "reason from 2"]
    assert len(stats.daily) == 30 and stats.daily[-1].day == NOW.date()
    assert sum(d.answered for d in stats.daily) == 4 and sum(d.declined for d in stats.daily) == 2


def test_stats_messages_escape_questions_and_fit_telegram():
    from tests.fake_bot_api import parse_telegram_html

    t = NOW - timedelta(days=1)
    from bot.stats import CitedDocument, DayCount, DisputedAnswer, Period, QuestionGroup, Stats

    report = Stats(
        True,
        (Period(7, 3, 2, 2, 1), Period(30, 3, 2, 2, 1)),
        30,
        [QuestionGroup(f"Is <b>{i}</b> & <script> answered? " + "x" * 300, 3, t) for i in range(10)],
        [CitedDocument("a&b.md", "A <Title>", 2)],
        [DisputedAnswer("Who <i>?", "An <answer> & more", "a&b.md", "A <Title>", 3, 2, 1, 0, ("it's <wrong>",))]
        + [DisputedAnswer("Q " * 300, "A & " * 300, "d.md", "T " * 100, i, None, 5, 1, ("R <" * 200,) * 3) for i in range(9)],
        [DayCount(t.date(), 2, 1)],
    )
    texts = feedback_render.stats_messages(report)
    assert len(texts) >= 2  # ten long disputed answers do not fit one message: split between lines
    for text in texts:
        visible = parse_telegram_html(text)
        assert len(visible) <= 4096
    joined = "\n".join(texts)
    assert "Is &lt;b&gt;0&lt;/b&gt; &amp; &lt;script&gt; answered?" in joined
    assert "<b>Last 7 days:</b> 3 questions, 67% answered; 1 of 2 votes helpful (50%)." in joined
    assert "“it's &lt;wrong&gt;”" in joined and "page 2, paragraph 3" in joined


# ------------------------------------------------------------------ export


def test_export_writes_helpful_answers_as_gold_and_repeatedly_declined_questions(store, db, tmp_path):
    def ask(question, answer, votes=()):
        answer_id = store.log_question(chat=7, chat_type="private", question=question, answer=answer, now=NOW)
        for user, helpful in votes:
            store.vote(answer_id, chat=7, user=user, helpful=helpful, now=NOW)

    ask("Who chaired the meeting?", answered("Maria chaired it."), [(1, True), (2, True), (3, False)])
    ask("who chaired the meeting", answered("Maria chaired it."), [(4, True)])  # same question again: one row
    ask("When is the next meeting?", answered("In spring."), [(1, False)])  # voted not helpful: left out
    ask("What did the volunteers count?", answered("Birds."))  # no votes: left out
    ask("When was the lighthouse built?", declined())
    ask("when was the lighthouse built", declined())
    ask("Who built the pier?", declined())  # declined once only
    out, ooc = tmp_path / "real.jsonl", tmp_path / "real.out-of-corpus.jsonl"
    report = export_eval_set(db, out, ooc)
    assert (report.helpful, report.out_of_corpus) == (1, 1)
    [gold] = read_questions(out)
    assert (gold.question, gold.answers) == ("Who chaired the meeting?", ("Maria chaired it.",))
    row = json.loads(out.read_text(encoding="utf-8"))
    assert (row["helpful"], row["not_helpful"], row["doc"], row["paragraph"]) == (3, 1, "river.md", 1)
    [candidate] = read_questions(ooc)
    assert candidate.answers == () and "lighthouse" in candidate.question.lower()
    assert json.loads(ooc.read_text(encoding="utf-8"))["declined"] == 2


# ------------------------------------------------------------------ chart, config, schedule


def test_chart_is_a_png_of_the_days(tmp_path):
    from bot.chart import questions_per_day_png
    from bot.stats import DayCount

    days = [DayCount((NOW - timedelta(days=29 - i)).date(), i % 7, i % 3) for i in range(30)]
    png = questions_per_day_png(days)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (960, 432)


def test_weekly_report_slot_is_the_last_monday_at_the_first_digest_time():
    # Tuesday 1 December 2026, 12:00 UTC; Lisbon is UTC+0 in winter.
    assert weekly_slot(NOW, "08:00", "Europe/Lisbon") == datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)
    monday_early = datetime(2026, 11, 30, 7, 59, tzinfo=timezone.utc)
    assert weekly_slot(monday_early, "08:00", "Europe/Lisbon") == datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
    assert weekly_slot(NOW, "08:00", "Asia/Tokyo") == datetime(2026, 11, 29, 23, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[privacy]\nlog_questions = 'yes'\n", "privacy.log_questions must be true or false. Currently, privacy.log_questions is 'yes'"),
        ("[privacy]\nretention_days = 0\n", "privacy.retention_days must be an integer >= 1 and <= 3650. Currently, privacy.retention_days is 0"),
        ("[privacy]\nretention = 30\n", "unknown setting privacy.retention = 30"),
        ("[digest]\nadmin_report = 1\n", "digest.admin_report must be true or false. Currently, digest.admin_report is 1"),
    ],
)
def test_bad_privacy_settings_name_the_key_and_the_value(tmp_path, text, fragment):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert fragment in str(err.value)


def test_privacy_defaults_log_for_ninety_days_and_no_admin_report(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("", encoding="utf-8")
    config = load_config(path)
    assert (config.privacy.log_questions, config.privacy.retention_days, config.digest.admin_report) == (True, 90, False)


def test_vote_callback_data_round_trips_and_fits_64_bytes():
    data = feedback_render.vote_data(2**63 - 1, False)
    assert len(data.encode()) <= 64
    assert feedback_render.parse_vote(data) == (2**63 - 1, False)
    for forged in ("vote:abc:1", "vote:1:2", "vote:1", "vote:-5:1", "more:1:1", "", None):
        assert feedback_render.parse_vote(forged) is None
