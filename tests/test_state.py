"""The bot's state database: transactions, expiring records, crash safety, the old digest file.

Tests taking ``db`` run twice: on SQLite and on a real PostgreSQL server (tests/pg_server.py).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest

from bot.digest_store import DigestStore
from bot.state import KeyValue, StateDB

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path):
    if request.param == "sqlite":
        state = StateDB.open_sqlite(tmp_path / "state.sqlite")
    else:
        from tests.pg_server import PASSWORD

        state = StateDB.open_postgres(request.getfixturevalue("postgres").create_database(), PASSWORD)
    yield state
    state.close()


def test_transaction_rolls_back_everything_on_error(db):
    db.ensure("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v BIGINT NOT NULL);")
    db.run("INSERT INTO t VALUES (?, ?)", ("a", 1))
    with pytest.raises(RuntimeError):
        with db.transaction() as tx:
            tx.run("UPDATE t SET v = 2 WHERE k = ?", ("a",))
            tx.run("INSERT INTO t VALUES (?, ?)", ("b", 5))
            raise RuntimeError("boom")
    assert db.run("SELECT k, v FROM t ORDER BY k") == [("a", 1)]


def test_auto_numbered_ids_are_returned_by_insert(db):
    db.ensure("CREATE TABLE IF NOT EXISTS log ({id}, text TEXT NOT NULL);")
    first = db.run("INSERT INTO log (text) VALUES (?) RETURNING id", ("x",))[0][0]
    second = db.run("INSERT INTO log (text) VALUES (?) RETURNING id", ("y",))[0][0]
    assert second == first + 1


def test_records_expire_and_purge_deletes_only_expired(db):
    kv = KeyValue(db)
    kv.put("turn", "chat:1", {"q": "Who?"}, expires=NOW + timedelta(minutes=10))
    kv.put("turn", "chat:2", {"q": "When?"}, expires=NOW - timedelta(seconds=1))
    kv.put("pref", "chat:1", "ru")
    assert kv.get("turn", "chat:1", now=NOW) == {"q": "Who?"}
    assert kv.get("turn", "chat:2", now=NOW) is None
    assert kv.get("turn", "chat:1", now=NOW + timedelta(minutes=11)) is None
    assert kv.get("pref", "chat:1", now=NOW + timedelta(days=999)) == "ru"
    assert kv.purge(NOW) == 1
    assert db.run("SELECT namespace, key FROM kv ORDER BY namespace, key") == [("pref", "chat:1"), ("turn", "chat:1")]


def test_records_survive_reopen(tmp_path):
    path = tmp_path / "state.sqlite"
    first = StateDB.open_sqlite(path)
    KeyValue(first).put("turn", "chat:1", ["a", 1])
    first.close()
    again = StateDB.open_sqlite(path)
    assert KeyValue(again).get("turn", "chat:1", now=NOW) == ["a", 1]
    again.close()


def test_concurrent_writers_from_threads_lose_nothing(db):
    db.ensure("CREATE TABLE IF NOT EXISTS hits (n BIGINT NOT NULL);")

    def write(base):
        for i in range(100):
            with db.transaction() as tx:
                tx.run("INSERT INTO hits VALUES (?)", (base + i,))

    threads = [threading.Thread(target=write, args=(k * 1000,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.run("SELECT count(*), count(DISTINCT n) FROM hits") == [(800, 800)]


def test_committed_rows_survive_kill_9_of_the_writer(tmp_path):
    path = tmp_path / "state.sqlite"
    script = f"""
import os, signal
from bot.state import StateDB
db = StateDB.open_sqlite(__import__('pathlib').Path({str(path)!r}))
db.ensure("CREATE TABLE IF NOT EXISTS t (n BIGINT);")
for i in range(50):
    db.run("INSERT INTO t VALUES (?)", (i,))
with db.transaction() as tx:
    tx.run("INSERT INTO t VALUES (?)", (999,))
    os.kill(os.getpid(), signal.SIGKILL)   # dies inside an open transaction
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == -9
    db = StateDB.open_sqlite(path)
    assert db.run("SELECT count(*), max(n) FROM t") == [(50, 49)]
    assert db.run("PRAGMA integrity_check") == [("ok",)]
    db.close()


def test_digest_state_is_imported_once_from_the_old_digest_file(tmp_path):
    legacy = tmp_path / "digest.sqlite"
    old = sqlite3.connect(legacy)
    old.executescript(
        "CREATE TABLE chats (chat TEXT PRIMARY KEY, active INTEGER NOT NULL, subscribed_at TEXT NOT NULL,"
        " changed_by TEXT NOT NULL, last_slot TEXT, last_posted TEXT);"
        "CREATE TABLE carried (chat TEXT NOT NULL, doc TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (chat, doc));"
        "INSERT INTO chats VALUES ('-100', 1, '2026-11-01T08:00:00+00:00', 'config', '2026-11-30T08:00:00+00:00', NULL);"
        "INSERT INTO chats VALUES ('-200', 0, '2026-11-01T08:00:00+00:00', 'user:7', NULL, NULL);"
        "INSERT INTO carried VALUES ('-100', 'a.txt', 'h1');"
    )
    old.commit()
    old.close()
    db = StateDB.open_sqlite(tmp_path / "state.sqlite")
    store = DigestStore(db)
    assert store.import_legacy(legacy) == 2
    assert store.subscribers() == ["-100"]  # the unsubscribed chat stays unsubscribed
    assert store.carried("-100") == {"a.txt": "h1"}
    assert store.last_slot("-100") == datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)
    store.unsubscribe("-100", by="user:7")
    assert store.import_legacy(legacy) == 0  # once only: a later unsubscribe is not undone
    assert store.subscribers() == []
    db.close()


# ---------------------------------------------------------------- both backends


def test_question_marks_in_quoted_text_and_percent_signs_are_kept(db):
    db.ensure("CREATE TABLE IF NOT EXISTS notes (k TEXT PRIMARY KEY, v TEXT NOT NULL);")
    db.run("INSERT INTO notes (k, v) VALUES (?, 'why? 100% sure')", ("a",))
    db.run("INSERT INTO notes (k, v) VALUES (?, ?)", ("b", "50% of it?"))
    assert db.run("SELECT v FROM notes WHERE v LIKE '%sure' OR k = ? ORDER BY k", ("b",)) == [
        ("why? 100% sure",),
        ("50% of it?",),
    ]


def test_telegram_ids_beyond_32_bits_round_trip(db):
    db.ensure("CREATE TABLE IF NOT EXISTS ids ({id}, chat BIGINT NOT NULL, score DOUBLE PRECISION);")
    db.run_many("INSERT INTO ids (chat, score) VALUES (?, ?)", [(-1001234567890, 0.5), (7, None)])
    assert db.run("SELECT chat, score FROM ids ORDER BY id") == [(-1001234567890, 0.5), (7, None)]


def test_read_then_write_transactions_from_threads_never_interleave(db):
    # A read followed by a write in one transaction: correct only if transactions run one at a time.
    db.ensure("CREATE TABLE IF NOT EXISTS counter (k TEXT PRIMARY KEY, n BIGINT NOT NULL);")
    db.run("INSERT INTO counter VALUES ('c', 0)")

    def bump():
        for _ in range(25):
            with db.transaction() as tx:
                [(n,)] = tx.run("SELECT n FROM counter WHERE k = 'c'")
                tx.run("UPDATE counter SET n = ? WHERE k = 'c'", (n + 1,))

    threads = [threading.Thread(target=bump) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.run("SELECT n FROM counter") == [(150,)]


def test_digest_store_works_on_either_backend(db):
    store = DigestStore(db)
    store.sync_configured((-100, "@news_channel"), NOW)
    assert store.subscribe("-200", by="user:7", now=NOW) is True
    assert store.subscribe("-200", by="user:7", now=NOW) is False
    store.record("-100", slot=NOW, documents={"a.txt": "h1"}, posted=NOW)
    assert store.subscribers() == ["-100", "-200", "@news_channel"]
    assert store.carried("-100") == {"a.txt": "h1"} and store.last_slot("-100") == NOW
    assert store.unsubscribe("-100", by="user:7") is True
    assert store.subscribers() == ["-200", "@news_channel"]


# ---------------------------------------------------------------- PostgreSQL


def test_postgres_tables_are_created_once_when_replicas_start_together(postgres):
    """Four processes run the same CREATE TABLE IF NOT EXISTS at once; without the lock PostgreSQL can fail one."""
    from tests.pg_server import PASSWORD

    url = postgres.create_database()
    script = f"""
import sys
from bot.state import StateDB
from bot.digest_store import DigestStore
from bot.lease import Lease
db = StateDB.open_postgres({url!r}, {PASSWORD!r})
DigestStore(db); Lease(db, "digest", holder=sys.argv[1], ttl=__import__("datetime").timedelta(seconds=30))
db.close()
"""
    runs = [subprocess.Popen([sys.executable, "-c", script, f"r{i}"], stderr=subprocess.PIPE) for i in range(4)]
    errors = [r.communicate(timeout=60)[1].decode() for r in runs]
    assert [r.returncode for r in runs] == [0, 0, 0, 0], errors
    db = StateDB.open_postgres(url, PASSWORD)
    assert db.run("SELECT count(*) FROM chats") == [(0,)] and db.run("SELECT count(*) FROM leases") == [(0,)]
    db.close()


def test_postgres_wrong_password_is_one_clear_error_without_the_password(postgres):
    from core.errors import StateError

    url = postgres.create_database()
    with pytest.raises(StateError) as caught:
        StateDB.open_postgres(url, "not-the-password")
    message = str(caught.value)
    assert message.startswith(f"cannot open the state database {url}: ")
    assert "password authentication failed" in message and "not-the-password" not in message


def test_postgres_unreachable_server_is_one_clear_error():
    from core.errors import StateError
    from tests.pg_server import free_port

    url = f"postgresql://bot@127.0.0.1:{free_port()}/bot"
    with pytest.raises(StateError, match=r"^cannot open the state database postgresql://bot@127\.0\.0\.1:\d+/bot: .*refused"):
        StateDB.open_postgres(url, "x")


def test_open_state_chooses_postgres_when_database_url_is_set(postgres, tmp_path):
    from bot.state import open_state
    from core.config import BotConfig
    from tests.pg_server import PASSWORD

    url = postgres.create_database()
    db = open_state(BotConfig(data_dir=tmp_path, database_url=url), PASSWORD)
    assert (db.dialect, db.where) == ("postgres", url)
    db.close()
    db = open_state(BotConfig(data_dir=tmp_path))
    assert (db.dialect, db.where) == ("sqlite", str(tmp_path / "state.sqlite"))
    db.close()


# ---------------------------------------------------------------- leases and stored answers


class Ticking:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_lease_has_one_holder_until_it_expires_or_is_released(db):
    from bot.lease import Lease

    clock = Ticking(NOW)
    a = Lease(db, "digest", holder="host-a:1", ttl=timedelta(seconds=30), clock=clock)
    b = Lease(db, "digest", holder="host-b:2", ttl=timedelta(seconds=30), clock=clock)
    assert a.acquire() and not b.acquire()
    clock.now += timedelta(seconds=20)
    assert a.acquire() and not b.acquire()  # renewed: 30 s from now
    clock.now += timedelta(seconds=29)
    assert not b.acquire() and b.holder_now() == "host-a:1"
    clock.now += timedelta(seconds=2)  # a stopped renewing: expired
    assert b.holder_now() is None
    assert b.acquire() and not a.acquire()
    b.release()
    assert a.acquire()
    other = Lease(db, "reindex", holder="host-b:2", ttl=timedelta(seconds=30), clock=clock)
    assert other.acquire()  # leases are independent by name


def test_lease_is_won_by_exactly_one_of_many_racing_holders(db):
    from bot.lease import Lease

    leases = [Lease(db, "digest", holder=f"replica-{i}", ttl=timedelta(minutes=1)) for i in range(8)]
    won = []
    barrier = threading.Barrier(len(leases))

    def race(lease):
        barrier.wait()
        if lease.acquire():
            won.append(lease.holder)

    threads = [threading.Thread(target=race, args=(lease,)) for lease in leases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and leases[0].holder_now() == won[0]


def _answer():
    from retrieval.retriever import Answer, Extract

    sentence = Extract("river.md", "River Report", 1, "Maria Lopez chaired it.", 0.9, 10, 33)
    extracts = [
        Extract("river.md", "River Report", 1, "The meeting… Maria Lopez chaired it.", 0.9, 0, 33),
        Extract("harbour.pdf", "Harbour <Report>", 3, "Built in 1852 ✓", 0.4, 5, 20, page=2),
    ]
    return Answer("Who chaired it?", True, sentence, extracts, confidence=0.81, candidate=sentence)


def test_stored_answer_comes_back_equal_from_another_connection_and_expires(db, tmp_path):
    from bot.answer_store import AnswerStore, CachedAnswer

    clock = Ticking(NOW)
    item = CachedAnswer(_answer(), page_size=3)
    key = AnswerStore(db, ttl=timedelta(hours=1), clock=clock).add(item)
    assert len(f"more:{key}:12".encode()) <= 64  # fits a button's callback data
    other = AnswerStore(db, ttl=timedelta(hours=1), clock=clock)  # e.g. another replica
    assert other.get(key) == item
    assert other.get("no-such-key") is None
    clock.now += timedelta(hours=1, seconds=1)
    assert other.get(key) is None
    assert other.purge() == 1


def test_stored_answer_written_with_other_fields_reads_as_absent_or_ignores_extras(db):
    from bot.answer_store import NAMESPACE, AnswerStore, answer_record
    from bot.answer_store import CachedAnswer
    from bot.state import KeyValue

    store = AnswerStore(db)
    record = answer_record(CachedAnswer(_answer(), 3))
    record["answer"]["extracts"][0]["language"] = "en"  # a newer replica's extra field
    KeyValue(db).put(NAMESPACE, "newer", record)
    KeyValue(db).put(NAMESPACE, "broken", {"answer": {"question": "q"}})
    assert store.get("newer").answer.extracts[0].text.startswith("The meeting")
    assert store.get("broken") is None
