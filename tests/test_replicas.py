"""Several bot processes serving one bot: nothing a later update needs is kept in one process's memory.

The first tests run one real Application in this process and play "the other replica"
through the shared state (a lease held, an index built from outside).  The last one
starts two real bot processes (``tests/replica_bot.py``) in webhook mode behind a
round-robin HTTP proxy, against the fake Bot API, sharing an index directory and a
PostgreSQL (or SQLite) state database, as docs/deploy.md describes.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiohttp import ClientSession, ClientTimeout, web

from bot.app import build_application
from bot.digest_store import DigestStore
from bot.lease import Lease
from bot.state import STATE_FILE, StateDB
from index.build import build_index
from retrieval.retriever import Retriever
from tests.fake_bot_api import WEBHOOK_SECRET, BotRunner, Call, FakeBotApi
from tests.pg_server import PASSWORD, free_port
from tests.test_bot import ADMIN, RIVER, ask_private, buttons, start_bot, write_bot_config
from tests.test_bot_digest import LIGHTHOUSE, Bots, Clock, digests
from tests.test_bot_digest import write_config as write_digest_config

ROOT = Path(__file__).resolve().parent.parent
USER = 7
GROUP = -1001234
RIVER_QUESTION = "Who chaired the annual meeting of the river council?"
LIGHTHOUSE_QUESTION = "When will the lamp of the old lighthouse on the northern cape shine again?"


def state_of(config) -> StateDB:
    """The bot's SQLite state database, opened as another replica on the same host would."""
    return StateDB.open_sqlite(config.bot.data_dir / STATE_FILE)


# ------------------------------------------------------------------ one process, the others played by the test


def test_buttons_of_an_answer_work_after_the_bot_restarts(tmp_path, api, embedder):
    config = write_bot_config(tmp_path, api)
    (config.seeds.dir / "river.md").write_text(RIVER, encoding="utf-8")
    build_index(config, embedder)
    runner = start_bot(api, config, embedder)
    [reply] = ask_private(api, RIVER_QUESTION)
    runner.stop()

    runner = start_bot(api, config, embedder)  # a new process: nothing of the first one's memory
    try:
        by_label = {b["text"]: b["callback_data"] for b in buttons(reply)}
        before = len(api.sent(USER))
        api.inject(api.button_press(USER, reply, by_label["More extracts"]))
        more = api.wait_for(lambda: api.sent(USER)[before:])[0]
        assert more.params["text"].startswith("<b>More extracts</b> (4–")
        before = len(api.sent(USER))
        api.inject(api.button_press(USER, reply, by_label["Full paragraph [1]"]))
        full = api.wait_for(lambda: api.sent(USER)[before:])[0]
        assert "chaired by Maria Lopez in Lisbon on a rainy Monday in March." in full.result["text"]
    finally:
        runner.stop()


def test_reindex_says_already_running_while_another_replica_reindexes(tmp_path, api, embedder):
    config = write_bot_config(tmp_path, api)
    (config.seeds.dir / "river.md").write_text(RIVER, encoding="utf-8")
    build_index(config, embedder)
    runner = start_bot(api, config, embedder)
    db = state_of(config)
    try:
        other = Lease(db, "reindex", holder="other-host:4242:beef", ttl=timedelta(minutes=1))
        assert other.acquire()
        [busy] = ask_private(api, "/reindex", user=ADMIN)
        assert busy.params["text"] == (
            "A reindex is already running (started on another replica of this bot); "
            "every replica answers from the new index when it is done."
        )
        other.release()
        [status] = ask_private(api, "/reindex", user=ADMIN)
        assert status.params["text"].startswith("Reindexing")
        api.wait_for(lambda: [c for c in api.calls_to("editMessageText") if "Reindex done" in c.params["text"]])
        api.wait_for(lambda: other.holder_now() is None)  # released once the build finished
    finally:
        db.close()
        runner.stop()


def test_index_built_by_another_process_is_served_without_a_restart(tmp_path, api, embedder, caplog):
    caplog.set_level("INFO", logger="bot")
    config = write_bot_config(tmp_path, api)
    (config.seeds.dir / "river.md").write_text(RIVER, encoding="utf-8")
    build_index(config, embedder)
    application = build_application(config, api.token, embedder_loader=lambda name: embedder, index_watch_every=0.1)
    runner = BotRunner(application).start(api)
    try:
        [before] = ask_private(api, LIGHTHOUSE_QUESTION)
        assert "Lighthouse Restoration Plan" not in before.params["text"]
        (config.seeds.dir / "lighthouse.md").write_text(LIGHTHOUSE, encoding="utf-8")
        build_index(config, embedder)  # another replica's /reindex, or `python -m index build`
        api.wait_for(lambda: any("now serving index version" in r.getMessage() for r in caplog.records))
        [after] = ask_private(api, LIGHTHOUSE_QUESTION)
        assert after.params["text"].startswith("<b>Answer:</b> ") and "Lighthouse Restoration Plan, paragraph" in after.params["text"]
    finally:
        runner.stop()


def test_only_the_replica_holding_the_digest_lease_posts_digests(tmp_path, api, embedder):
    config = write_digest_config(tmp_path, api, f"[{GROUP}]")
    (config.seeds.dir / "river.md").write_text(RIVER, encoding="utf-8")
    build_index(config, embedder)
    bots = Bots(api, config, embedder, Clock(datetime(2026, 11, 27, 7, 30, tzinfo=timezone.utc)))
    db = state_of(config)
    other = Lease(db, "digest", holder="other-host:4242:beef", ttl=timedelta(minutes=5))
    try:
        assert other.acquire()
        bots.start()
        bots.clock.now = datetime(2026, 11, 27, 8, 0, 5, tzinfo=timezone.utc)
        time.sleep(1.0)  # ten digest checks: the other replica holds the lease, this one posts nothing
        assert digests(api, GROUP) == []
        other.release()  # the other replica stops
        api.wait_for(lambda: digests(api, GROUP))
        time.sleep(0.6)
        assert len(digests(api, GROUP)) == 1
        assert other.holder_now() == bots.runner.application.bot_data["replica"]
    finally:
        bots.stop()
        db.close()


# ------------------------------------------------------------------ two bot processes behind one webhook


class RoundRobinProxy:
    """A load balancer for the test: each POST goes to the next backend in turn (or to a pinned one)."""

    def __init__(self, backends: list[int]):
        self.backends = backends
        self.routes: dict[int, int] = {}  # update_id -> backend index that answered 200
        self.port = 0
        self._next = 0
        self._pinned: int | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "RoundRobinProxy":
        ready = threading.Event()

        def serve():
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._session.close())
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="round-robin-proxy", daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    async def _start(self) -> None:
        self._session = ClientSession(timeout=ClientTimeout(total=30))
        app = web.Application()
        app.router.add_post("/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def pin_next(self, backend: int) -> None:
        """Send the next request to ``backend`` (to press a button on the other replica)."""
        with self._lock:
            self._pinned = backend

    def _choose(self) -> int:
        with self._lock:
            if self._pinned is not None:
                chosen, self._pinned = self._pinned, None
                return chosen
            chosen = self._next
            self._next = (self._next + 1) % len(self.backends)
            return chosen

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        backend = self._choose()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "x-telegram-bot-api-secret-token")}
        url = f"http://127.0.0.1:{self.backends[backend]}{request.path}"
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                status, answer = response.status, await response.read()
        except OSError:
            return web.Response(status=502)  # that replica is not listening (yet): Telegram retries
        if status == 200:
            with self._lock:
                self.routes[json.loads(body)["update_id"]] = backend
        return web.Response(status=status, body=answer)

    def stop(self) -> None:
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


class Replicas:
    """Two ``python -m tests.replica_bot`` processes with the same config but their own webhook port."""

    def __init__(self, root: Path, api: FakeBotApi, extra: str, proxy_ports: list[int], proxy_url: str, env: dict):
        self.configs = []
        for number, port in enumerate(proxy_ports):
            folder = root / f"replica{number}"
            folder.mkdir()
            text = (root / "config.toml").read_text(encoding="utf-8")
            # Every path points into ``root``: one index directory and one state database for all.
            text = text.replace('dir = "seeds"', f'dir = "{root / "seeds"}"').replace('dir = "data/index"', f'dir = "{root / "data" / "index"}"')
            text = text.replace("[telegram]\n", f'[telegram]\nwebhook_url = "{proxy_url}"\nwebhook_port = {port}\n')
            text = text.replace("[bot]\n", f'[bot]\ndata_dir = "{root / "data"}"\n{extra}\n')
            (folder / "config.toml").write_text(text, encoding="utf-8")
            self.configs.append(folder / "config.toml")
        self.env = env
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def start(self) -> None:
        for number, config in enumerate(self.configs):
            log = config.parent / "bot.log"
            self.logs.append(log)
            with open(log, "wb") as out:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "tests.replica_bot", "--config", str(config)],
                        cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                    )
                )

    def check_alive(self) -> None:
        for process, log in zip(self.processes, self.logs):
            if process.poll() is not None:
                raise AssertionError(f"replica exited with {process.returncode}: {log.read_text()[-3000:]}")

    def stop(self) -> list[int]:
        codes = []
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # PTB stops cleanly on SIGTERM: leases released
        for process in self.processes:
            try:
                codes.append(process.wait(60))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait(10))
        return codes


def answer_sentence(call: Call) -> str:
    first = call.result["text"].split("\n", 1)[0]
    return first.removeprefix("Answer: ") if first.startswith("Answer: ") else first


QUESTIONS = [
    "Who chaired the annual meeting of the river council?",
    "What did the council approve a budget for?",
    "Which birds did the volunteers count near the river mouth?",
    "Where will the next meeting of the river council be held?",
    "In which city was the annual meeting of the river council?",
]
CHATS = 20
PER_CHAT = 10


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_two_replicas_behind_one_webhook_answer_everything_once_and_share_buttons_digests_and_reindex(
    backend, tmp_path, api, embedder, request
):
    # The documents, and the index (built here with the same fake embedder as the replicas').
    write_bot_config(tmp_path, api, extra='[digest]\ntimes = ["00:00"]\ntimezone = "UTC"\n')
    (tmp_path / "seeds" / "river.md").write_text(RIVER, encoding="utf-8")
    from core.config import load_config

    config = load_config(tmp_path / "config.toml")
    build_index(config, embedder)
    oracle = Retriever.open(config, embedder)
    expected = {q: oracle.answer(q).answer for q in QUESTIONS}
    oracle.close()
    assert all(expected.values())

    env = dict(os.environ, FAKE_BOT_TOKEN=api.token, TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET, BOT_DATABASE_PASSWORD=PASSWORD)
    if backend == "postgres":
        url = request.getfixturevalue("postgres").create_database()
        extra = f'database_url = "{url}"'
        db = StateDB.open_postgres(url, PASSWORD)
    else:
        extra = ""
        db = StateDB.open_sqlite(tmp_path / "data" / STATE_FILE)

    ports = [free_port(), free_port()]
    proxy = RoundRobinProxy(ports).start()
    replicas = Replicas(tmp_path, api, extra, ports, f"http://127.0.0.1:{proxy.port}/telegram", env)
    replicas.start()
    try:
        # Both are up once each has set the webhook (the same URL and secret) and answers through the proxy.
        api.wait_for(lambda: replicas.check_alive() or len(api.calls_to("setWebhook")) == 2, timeout=120)
        assert {c.params["secret_token"] for c in api.calls_to("setWebhook")} == {WEBHOOK_SECRET}
        for number in (0, 1):
            proxy.pin_next(number)
            update = api.inject(api.private_text(9000 + number, "/start"))
            api.wait_for(lambda: replicas.check_alive() or proxy.routes.get(update) == number and api.sent(9000 + number), timeout=60)

        # 200 questions from 20 chats, all at once: each answered exactly once, by either replica.
        asked: dict[int, collections.Counter] = {}
        started = time.perf_counter()
        for round_ in range(PER_CHAT):
            for chat in range(CHATS):
                user = 1000 + chat
                question = QUESTIONS[(chat + round_) % len(QUESTIONS)]
                asked.setdefault(user, collections.Counter())[expected[question]] += 1
                api.inject(api.private_text(user, question))
        api.wait_for(
            lambda: replicas.check_alive() or all(len(api.sent(1000 + c)) >= PER_CHAT for c in range(CHATS)), timeout=180
        )
        seconds = time.perf_counter() - started
        api.settle(1.0)
        for user, counts in asked.items():
            got = collections.Counter(answer_sentence(c) for c in api.sent(user))
            assert got == counts, f"chat {user}: {got} != {counts}"
        served = collections.Counter(proxy.routes.values())
        assert served[0] >= 50 and served[1] >= 50, served  # the proxy spread them
        print(f"\n[{backend}] {CHATS * PER_CHAT} questions answered in {seconds:.2f} s ({CHATS * PER_CHAT / seconds:.0f}/s)")

        # A button under an answer from one replica, pressed on the other.
        proxy.pin_next(0)
        update = api.inject(api.private_text(USER, RIVER_QUESTION))
        [reply] = api.wait_for(lambda: api.sent(USER))
        assert proxy.routes[update] == 0
        by_label = {b["text"]: b["callback_data"] for b in buttons(reply)}
        proxy.pin_next(1)
        update = api.inject(api.button_press(USER, reply, by_label["Full paragraph [1]"]))
        full = api.wait_for(lambda: api.sent(USER)[1:])[0]
        assert proxy.routes[update] == 1
        assert "chaired by Maria Lopez in Lisbon on a rainy Monday in March." in full.result["text"]

        # /reindex on one replica: both then answer from the new index.
        (tmp_path / "seeds" / "lighthouse.md").write_text(LIGHTHOUSE, encoding="utf-8")
        proxy.pin_next(1)
        api.inject(api.private_text(ADMIN, "/reindex"))
        api.wait_for(lambda: replicas.check_alive() or [c for c in api.calls_to("editMessageText") if "Reindex done" in c.params["text"]], timeout=60)
        for number in (0, 1):  # each replica notices the new version within its watch interval
            user = 2000 + number
            deadline = time.monotonic() + 30
            while True:
                before = len(api.sent(user))
                proxy.pin_next(number)
                update = api.inject(api.private_text(user, LIGHTHOUSE_QUESTION))
                [answer] = api.wait_for(lambda: replicas.check_alive() or api.sent(user)[before:])
                assert proxy.routes[update] == number
                if answer.result["text"].startswith("Answer: ") and "Lighthouse Restoration Plan" in answer.result["text"]:
                    break
                assert time.monotonic() < deadline, f"replica {number} never served the new index"
                time.sleep(0.2)

        # A group subscribed since yesterday: today's 00:00 UTC digest is due at both replicas' next
        # check. Telegram is slow to take it (1 s), so both would post it if both were allowed to.
        api.slow_next("sendMessage", 1.0, times=2)
        DigestStore(db).subscribe(str(GROUP), by="user:42", now=datetime.now(timezone.utc) - timedelta(days=1))
        [digest] = api.wait_for(lambda: digests(api, GROUP))
        assert "River Council Annual Report" in digest.params["text"]
        api.settle(1.5)
    finally:
        codes = replicas.stop()
        proxy.stop()
    assert codes == [0, 0], [log.read_text()[-2000:] for log in replicas.logs]
    time.sleep(0.5)
    assert len(digests(api, GROUP)) == 1
    assert Lease(db, "digest", holder="test", ttl=timedelta(seconds=1)).holder_now() is None  # released on SIGTERM
    db.close()
    for log in replicas.logs:
        text = log.read_text()
        assert "ready: 1 document(s) (replica " in text
        for secret in (api.token, WEBHOOK_SECRET, PASSWORD):
            assert secret not in text


def test_bot_whose_state_database_is_unreachable_exits_with_one_line_and_no_password(tmp_path, api):
    write_bot_config(tmp_path, api)
    config = tmp_path / "config.toml"
    url = f"postgresql://bot@127.0.0.1:{free_port()}/bot"  # nothing listens there
    config.write_text(config.read_text().replace("[bot]\n", f'[bot]\ndatabase_url = "{url}"\n'), encoding="utf-8")
    env = dict(os.environ, FAKE_BOT_TOKEN=api.token, BOT_DATABASE_PASSWORD=PASSWORD)
    result = subprocess.run(
        [sys.executable, "-m", "tests.replica_bot", "--config", str(config)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot open the state database {url}: ") and "refused" in last
    assert PASSWORD not in result.stderr and api.token not in result.stderr
