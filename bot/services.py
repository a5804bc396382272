"""What the handlers work with: the current retriever (swappable), recent answers, the reindex lock.

Usage::

    services = Services(config, embedder, retriever)       # built once, in post_init
    answer = services.answer("Who chaired it?")             # blocking: call via asyncio.to_thread
    report = services.rebuild(progress)                     # blocking; swaps the new index in

One ``Services`` lives in ``application.bot_data``.  Its blocking methods run in
worker threads, so the retriever slot is guarded by a lock; a swapped-out
retriever is closed only once the last question using it has finished.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from core.config import Config
from core.embedder import Embedder
from core.errors import IndexNotFoundError
from index.build import BuildReport, Progress, build_index
from retrieval.retriever import Answer, Extract, Retriever
from retrieval.summary import KeySentence

# Extracts fetched per question: the first page is shown, the rest wait for "More extracts".
PAGES = 3
# Recent answers kept for the inline buttons; older buttons answer "please ask again".
CACHE_SIZE = 512


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


@dataclass(frozen=True)
class CachedAnswer:
    answer: Answer
    page_size: int


class AnswerCache:
    """The last ``size`` answers by short random key, so buttons stay within 64 bytes of callback data."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self._items: OrderedDict[str, CachedAnswer] = OrderedDict()

    def add(self, item: CachedAnswer) -> str:
        key = secrets.token_urlsafe(6)  # random, so buttons from before a restart never hit a new answer
        self._items[key] = item
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return key

    def get(self, key: str) -> CachedAnswer | None:
        return self._items.get(key)


class Services:
    """The bot's long-lived objects, created once at start-up."""

    def __init__(self, config: Config, embedder: Embedder, retriever: Retriever | None):
        self.config = config
        self.embedder = embedder
        self.slot = RetrieverSlot(retriever)
        self.answers = AnswerCache()
        self.reindex_lock = asyncio.Lock()  # one /reindex at a time

    @property
    def page_size(self) -> int:
        return self.config.retrieval.top_k

    @property
    def admins(self) -> frozenset[int]:
        return frozenset(self.config.bot.admins)

    # Blocking methods below: call them with ``asyncio.to_thread``.

    def answer(self, question: str) -> Answer:
        with self.slot.use() as retriever:
            wanted = min(self.page_size * PAGES, max(self.config.retrieval.candidates, self.page_size))
            return retriever.answer(question, top_k=wanted)

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
        self.slot.swap(Retriever.open(self.config, self.embedder))
        return report

    def close(self) -> None:
        self.slot.close()
