"""Index builds for documents that arrive through Telegram: one at a time, shared, never beside a /reindex.

Usage::

    queue = BuildQueue(services)
    build = queue.request()                 # an admin waits: the next build starts at once
    queue.request(delay=10)                 # a channel post: wait for quiet, share the build
    report = await build.result()           # raises what the build raised
    build.describe()                        # status text: queued, or the build's progress

The builds themselves are ``Services.rebuild`` (the incremental ``/reindex`` build) run in a
thread under ``Services.reindex_lock`` and, with replicas, the reindex lease (``bot.lease``):
a build waits while another replica reindexes, and other replicas serve the new version
when they next check the index directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from bot import ingest_render as say, render
from bot.handlers import BuildProgress
from bot.i18n import ENGLISH, Translator
from bot.lease import Lease
from bot.services import Services
from index.build import BuildReport

log = logging.getLogger(__name__)

# Seconds between renewals of the reindex lease while a build runs, and between tries to take it.
LEASE_RENEW_SECONDS = 3.0
LEASE_RETRY_SECONDS = 1.0


@dataclass(eq=False)
class PendingBuild:
    """One build that has not finished; every request it serves waits on it."""

    due: float  # event-loop time it starts at (or as soon after as the index is free)
    deadline: float  # later requests may put ``due`` off, but not past this
    progress: BuildProgress = field(default_factory=BuildProgress)
    hurry: asyncio.Event = field(default_factory=asyncio.Event)
    started: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    report: BuildReport | None = None
    error: BaseException | None = None

    async def result(self) -> BuildReport:
        """The build's report (raises what the build raised)."""
        await self.done.wait()
        if self.error is not None:
            raise self.error
        return self.report

    def describe(self, tr: Translator = ENGLISH) -> str:
        """Status text while waiting: queued behind another build, or this build's progress (in ``tr``'s language)."""
        return render.reindex_progress(*self.progress.value, tr=tr) if self.started else say.queued(tr=tr)


class BuildQueue:
    """Index builds for documents from Telegram, one at a time and never beside a /reindex.

    A request is served by the next build to *start*, so whatever was saved before the
    request is in it; requests made before that build starts share it.  A request with a
    ``delay`` (a channel post) lets the build wait until no such request has come for
    ``delay`` seconds, but no longer than ``MAX_WAIT`` times ``delay`` after the first: a
    burst of posts costs one build, and a steady stream still gets indexed.  A request
    without delay (an admin waiting for a report) starts the pending build at once.
    """

    MAX_WAIT = 6

    def __init__(self, services: Services, lease: Lease | None = None):
        self.services = services
        self.lease = lease  # the reindex lease: one build across all replicas (None: this process only)
        self.builds = 0  # builds run so far
        self._next: PendingBuild | None = None
        self._worker: asyncio.Task | None = None

    def request(self, delay: float = 0.0) -> PendingBuild:
        now = asyncio.get_running_loop().time()
        if self._next is None:
            self._next = PendingBuild(due=now + delay, deadline=now + self.MAX_WAIT * delay)
        build = self._next
        if delay <= 0:
            build.due = build.deadline = now
        else:
            build.due = min(max(build.due, now + delay), build.deadline)
        build.hurry.set()  # the worker re-reads ``due``
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="ingest-builds")
        return build

    async def close(self) -> None:
        """Run a build still waiting out its delay now, and wait for it (at shutdown)."""
        if self._next is not None:
            self._next.due = self._next.deadline = 0.0
            self._next.hurry.set()
        if self._worker is not None:
            with contextlib.suppress(Exception):
                await self._worker

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while self._next is not None:
            build = self._next
            while (wait := build.due - loop.time()) > 0:
                build.hurry.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(build.hurry.wait(), wait)
            async with self.services.reindex_lock:
                await self._take_lease()
                self._next = None  # requests from now on are served by the following build
                build.started = True
                self.builds += 1
                try:
                    task = asyncio.ensure_future(asyncio.to_thread(self.services.rebuild, build.progress.update))
                    while not (await asyncio.wait({task}, timeout=LEASE_RENEW_SECONDS))[0]:
                        if self.lease is not None and not await asyncio.to_thread(self.lease.acquire):
                            log.warning("the reindex lease was taken over during a build for documents from Telegram")
                    report = build.report = task.result()
                    log.info(
                        "index build %d for documents from Telegram: %d documents (%d added, %d changed, %d removed) in %.1fs",
                        self.builds, report.documents, len(report.added), len(report.changed), len(report.removed),
                        report.seconds,
                    )
                except Exception as exc:  # each waiter reports it; logged once here
                    build.error = exc
                    log.warning("index build for documents from Telegram failed; the previous index keeps serving: %s", exc)
                finally:
                    await self._give_lease_back()
                    build.done.set()

    async def _give_lease_back(self) -> None:
        if self.lease is None:
            return
        try:
            await asyncio.to_thread(self.lease.release)
        except Exception as exc:  # it expires by itself; the build's waiters must still hear of it
            log.warning("could not release the reindex lease: %s", exc)

    async def _take_lease(self) -> None:
        """Wait until this replica holds the reindex lease (another one may be reindexing)."""
        if self.lease is None:
            return
        waited = False
        while not await asyncio.to_thread(self.lease.acquire):
            if not waited:
                log.info("index build for documents from Telegram waits: replica %s is reindexing",
                         await asyncio.to_thread(self.lease.holder_now))
                waited = True
            await asyncio.sleep(LEASE_RETRY_SECONDS)
