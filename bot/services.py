"""What the handlers work with: the current retriever (swappable), recent answers, the reindex lock.

Usage::

    services = Services(config, embedder, retriever, state)   # built once, in post_init
    answer = services.answer("Who chaired it?")                # blocking: call via asyncio.to_thread
    report = services.rebuild(progress)                        # blocking; swaps the new index in
    services.refresh()                                         # blocking; serve a version built elsewhere

One ``Services`` lives in ``application.bot_data``.  Its blocking methods run in
worker threads, so the retriever slot is guarded by a lock; a swapped-out
retriever is closed only once the last question using it has finished.  Nothing a
later update needs is kept only here: answers behind buttons live in the state
database (``bot.answer_store``), and the index version is whatever ``current`` in
the index directory points at (or the Milvus alias names), which ``refresh``
follows when another process (a replica's /reindex, ``python -m index build``) moves it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from contextlib import contextmanager
from typing import Iterator

from bot.answer_store import AnswerStore, CachedAnswer  # noqa: F401  (CachedAnswer: used by the handlers)
from bot.state import StateDB
from core.config import Config
from core.embedder import Embedder
from core.errors import DocQAError, IndexNotFoundError
from index.build import BuildReport, Progress, build_index
from retrieval.followup import Turn
from retrieval.index_store import live_version
from retrieval.retriever import Answer, Extract, Retriever
from retrieval.summary import KeySentence

log = logging.getLogger(__name__)

# Extracts fetched per question: the first page is shown, the rest wait for "More extracts".
PAGES = 3


class RetrieverSlot:
    """Holds the retriever questions use; ``swap`` replaces it atomically."""

    def __init__(self, retriever: Retriever | None):
        self._current = retriever
        self._users: dict[int, int] = {}  # id(retriever) -> questions using it now
        self._retired: dict[int, Retriever] = {}
        self._lock = threading.Lock()

    @property
    def current(self) -> Retriever | None:
        return self._current

    @contextmanager
    def use(self) -> Iterator[Retriever]:
        """The current retriever, kept open until the block ends even if a swap happens meanwhile."""
        with self._lock:
            retriever = self._current
            if retriever is None:
                raise IndexNotFoundError("no index has been built yet")
            self._users[id(retriever)] = self._users.get(id(retriever), 0) + 1
        try:
            yield retriever
        finally:
            with self._lock:
                key = id(retriever)
                self._users[key] -= 1
                idle = self._users[key] == 0
                if idle:
                    del self._users[key]
                close = self._retired.pop(key, None) if idle else None
            if close is not None:
                close.close()

    def swap(self, retriever: Retriever) -> None:
        with self._lock:
            old, self._current = self._current, retriever
            if old is None:
                return
            if id(old) in self._users:
                self._retired[id(old)] = old  # closed by the last user, in ``use``
                return
        old.close()

    def close(self) -> None:
        with self._lock:
            old, self._current = self._current, None
        if old is not None:
            old.close()


class Services:
    """The bot's long-lived objects, created once at start-up."""

    def __init__(self, config: Config, embedder: Embedder, retriever: Retriever | None, state: StateDB):
        self.config = config
        self.embedder = embedder
        self.slot = RetrieverSlot(retriever)
        self.state = state
        self.answers = AnswerStore(state)
        self.reindex_lock = asyncio.Lock()  # one /reindex at a time in this process (a lease across replicas)
        self._loading = threading.Lock()  # one index load at a time: rebuild's or refresh's
        self._refused: str | None = None  # a version refresh could not open (logged once)

    @property
    def page_size(self) -> int:
        return self.config.retrieval.top_k

    @property
    def admins(self) -> frozenset[int]:
        return frozenset(self.config.bot.admins)

    # Blocking methods below: call them with ``asyncio.to_thread``.

    def answer(self, question: str, context: Turn | None = None) -> Answer:
        """Answer ``question``; ``context`` is the turn it may follow up on."""
        with self.slot.use() as retriever:
            wanted = min(self.page_size * PAGES, max(self.config.retrieval.candidates, self.page_size))
            return retriever.answer(question, top_k=wanted, context=context)

    def paragraph(self, extract: Extract) -> Extract | None:
        with self.slot.use() as retriever:
            return retriever.paragraph(extract.doc, extract.paragraph)

    def documents(self) -> list[tuple[str, str]]:
        with self.slot.use() as retriever:
            return retriever.documents

    def document_sources(self) -> dict[str, str]:
        """Document -> the original's URL, for documents that came with one (links, channel posts)."""
        with self.slot.use() as retriever:
            return {doc: url for doc, _ in retriever.documents if (url := retriever.source(doc))}

    def document_summary(self, doc: str, sentences: int) -> tuple[str, list[KeySentence]] | None:
        """(title, key sentences) of an indexed document, for deep links from digests."""
        with self.slot.use() as retriever:
            return retriever.summary(doc, sentences)

    def document_count(self) -> int | None:
        retriever = self.slot.current
        return None if retriever is None else len(retriever.documents)

    def rebuild(self, progress: Progress | None = None) -> BuildReport:
        """Build the index incrementally with the loaded model, then swap the new one in.

        Raises:
            BuildError (and other DocQAError): the old retriever keeps serving.
        """
        report = build_index(self.config, self.embedder, progress=progress)
        with self._loading:
            self.slot.swap(Retriever.open(self.config, self.embedder))
        return report

    def serving(self) -> str | None:
        """The index version questions are answered from now (None: no index)."""
        retriever = self.slot.current
        return None if retriever is None else retriever.index.version

    def refresh(self) -> str | None:
        """Swap in the live version if it is not the one being served; returns it if swapped.

        Another process moved ``current`` (or, with the Milvus store, the alias): a replica's
        /reindex or ``python -m index build``.  A version that cannot be opened is logged once
        and the old one keeps serving; so is a Milvus server that does not answer.
        """
        try:
            latest = live_version(self.config)
        except DocQAError as exc:
            log.warning("cannot check for a new index version: %s", exc)
            return None
        if latest is None or latest == self.serving() or latest == self._refused:
            return None
        if not self._loading.acquire(blocking=False):
            return None  # this process is loading an index right now (its own /reindex)
        try:
            if latest == self.serving():
                return None
            try:
                retriever = Retriever.open(self.config, self.embedder)
            except DocQAError as exc:
                log.warning("not switching to index version %s: %s", latest, exc)
                self._refused = latest
                return None
            self.slot.swap(retriever)
            return retriever.index.version
        finally:
            self._loading.release()

    def close(self) -> None:
        self.slot.close()
