"""The queue that runs index builds for documents from Telegram, with a fake rebuild (no index, no bot)."""

from __future__ import annotations

import asyncio
import threading

from bot.build_queue import BuildQueue
from index.build import BuildReport


class FakeServices:
    """Just what the queue uses: the reindex lock and a rebuild that counts its calls (and can be held)."""

    def __init__(self):
        self.reindex_lock = asyncio.Lock()
        self.rebuilds = 0
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()

    def rebuild(self, progress=None) -> BuildReport:
        self.entered.set()
        self.hold.wait(10)
        self.rebuilds += 1
        return BuildReport(documents=self.rebuilds)


def run(scenario):
    return asyncio.run(asyncio.wait_for(scenario(), 20))


def test_requests_with_a_delay_share_one_build_after_the_quiet_period():
    async def scenario():
        services = FakeServices()
        queue = BuildQueue(services)
        builds = []
        for _ in range(50):
            builds.append(queue.request(delay=0.2))
            await asyncio.sleep(0.01)  # posts keep coming: the build waits for them
        assert len({id(b) for b in builds}) == 1
        report = await builds[0].result()
        assert (services.rebuilds, queue.builds, report.documents) == (1, 1, 1)

    run(scenario)


def test_an_admin_waiting_starts_a_delayed_build_at_once():
    async def scenario():
        services = FakeServices()
        queue = BuildQueue(services)
        posts = queue.request(delay=60)
        upload = queue.request()
        assert upload is posts
        await asyncio.wait_for(upload.result(), 5)  # not 60 s
        assert services.rebuilds == 1

    run(scenario)


def test_a_request_during_a_build_gets_the_next_build_which_later_requests_share():
    async def scenario():
        services = FakeServices()
        services.hold.clear()
        queue = BuildQueue(services)
        first = queue.request()
        await asyncio.to_thread(services.entered.wait, 5)  # the first build is running
        second, third = queue.request(), queue.request()
        assert second is third and second is not first
        services.hold.set()
        assert (await first.result()).documents == 1
        assert (await second.result()).documents == 2
        assert services.rebuilds == 2 == queue.builds

    run(scenario)


def test_builds_wait_for_a_running_reindex_and_a_failure_reaches_every_waiter():
    async def scenario():
        services = FakeServices()
        queue = BuildQueue(services)
        async with services.reindex_lock:  # a /reindex is running
            build = queue.request()
            await asyncio.sleep(0.2)
            assert services.rebuilds == 0 and build.describe().startswith("Saved. Waiting")

        def broken(progress=None):
            raise RuntimeError("disk on fire")

        services.rebuild = broken
        failing = queue.request()
        await asyncio.sleep(0)
        for waiter in (failing, failing):
            try:
                await waiter.result()
            except RuntimeError as exc:
                assert str(exc) == "disk on fire"
            else:
                raise AssertionError("the failure was lost")

    run(scenario)


def test_a_build_waits_while_another_replica_holds_the_reindex_lease(tmp_path):
    from datetime import timedelta

    from bot.lease import Lease
    from bot.state import StateDB

    async def scenario():
        db = StateDB.open_sqlite(tmp_path / "state.sqlite")
        other = Lease(db, "reindex", holder="replica-b", ttl=timedelta(seconds=60))
        mine = Lease(db, "reindex", holder="replica-a", ttl=timedelta(seconds=60))
        assert other.acquire()  # replica B is reindexing
        services = FakeServices()
        queue = BuildQueue(services, mine)
        build = queue.request()
        await asyncio.sleep(1.5)
        assert services.rebuilds == 0 and not build.started
        other.release()
        await build.result()
        assert services.rebuilds == 1
        assert mine.holder_now() is None  # given back after the build
        db.close()

    run(scenario)
