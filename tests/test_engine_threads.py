"""The multilingual engine's thread count per call: as many threads as cores are free (no model needed)."""

from __future__ import annotations

import threading

import numpy as np

from core.multilingual import EngineThreads, MultilingualEmbedder, free_cores


def _loadavg(tmp_path, runnable: str):
    path = tmp_path / "loadavg"
    path.write_text(f"0.52 0.58 0.59 {runnable} 4242\n")
    return path


def test_an_idle_machine_has_every_core_free_and_a_busy_one_at_least_one(tmp_path):
    # /proc/loadavg's fourth field counts runnable tasks, the reader among them.
    assert free_cores(2, _loadavg(tmp_path, "1/345")) == 2
    assert free_cores(2, _loadavg(tmp_path, "2/345")) == 1  # another job on one core
    assert free_cores(2, _loadavg(tmp_path, "9/345")) == 1
    assert free_cores(8, _loadavg(tmp_path, "3/345")) == 6


def test_an_unreadable_loadavg_means_one_thread(tmp_path):
    assert free_cores(4, tmp_path / "missing") == 1
    (tmp_path / "garbled").write_text("not a loadavg")
    assert free_cores(4, tmp_path / "garbled") == 1


class FakeModel:
    dim = 4

    def encode(self, texts, query):
        return np.ones((len(texts), self.dim), dtype=np.float32)


def _embedder(free: list[int]):
    calls: list[int] = []
    threads = EngineThreads(2, [calls.append], lambda: free[0])
    return MultilingualEmbedder("fake", FakeModel(), "0" * 64, 4, threads), calls


def test_a_question_runs_on_the_free_cores_and_a_batch_on_all_of_them():
    free = [2]
    embedder, calls = _embedder(free)
    embedder.encode_queries(["¿Cuántos?"])
    free[0] = 1  # another job started
    embedder.encode_queries(["¿Cuántos?"])
    embedder.encode(["passage one", "passage two"])  # a build's batch keeps every core
    assert calls == [2, 1, 2]


def test_the_count_is_set_only_when_it_changes_and_per_os_thread():
    free = [1]
    embedder, calls = _embedder(free)
    for _ in range(3):
        embedder.encode_queries(["Wann?"])
    assert calls == [1]
    # OpenMP's setting belongs to the calling thread: a new worker thread sets its own.
    worker = threading.Thread(target=embedder.encode_queries, args=(["Wann?"],))
    worker.start(), worker.join()
    assert calls == [1, 1]


def test_the_count_never_exceeds_what_the_engine_was_started_with():
    threads = EngineThreads(2, [], lambda: 16)
    assert threads.free() == 2
