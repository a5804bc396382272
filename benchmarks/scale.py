"""Scale: synthetic corpora of 10k to 1M passages, index type chosen by size as in a real build.

For each size: build (or reuse from the cache) the index ``choose_index_type("auto", n)``
picks, then in a fresh process load it and search real question embeddings one at a
time, reporting load time, resident memory, size on disk, search p50/p99 and recall@10
against exact search over the same vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.corpus import CACHE, REPO
from benchmarks.synthetic import mixture, recall_at_k
from index import faiss_build
from index.faiss_build import choose_index_type, configure_faiss, make_faiss_index

K = 10


def measure_size(n: int, centres: np.ndarray, queries: np.ndarray, log=print) -> dict:
    """Build or reuse the auto-chosen index over ``n`` synthetic vectors and measure it."""
    faiss = configure_faiss()
    index_type = choose_index_type("auto", n)
    params = f"{faiss_build.HNSW_M}-{faiss_build.HNSW_EF_CONSTRUCTION}-{faiss_build.IVF_PROBE}"
    key = hashlib.sha256(centres.tobytes() + queries.tobytes() + f"{n}{index_type}{params}".encode()).hexdigest()[:12]
    folder = CACHE / f"scale-{n}-{index_type}-{key}"
    index_path, exact_path, meta_path = folder / "faiss.index", folder / "exact.npy", folder / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        log(f"  {n:,} passages: reusing cached {index_type} index ({meta['build_s']:.0f} s to build)")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        vectors = mixture(centres, n, seed=n)
        log(f"  {n:,} passages: building {index_type} index...")
        started = time.perf_counter()
        index = make_faiss_index(vectors, index_type)
        build_s = time.perf_counter() - started
        faiss.write_index(index, str(index_path))
        del index
        exact = faiss.IndexFlatIP(vectors.shape[1])
        exact.add(vectors)
        np.save(exact_path, exact.search(queries, K)[1])
        del exact, vectors
        meta = {"build_s": build_s}
        meta_path.write_text(json.dumps(meta))
        log(f"  {n:,} passages: built in {build_s:.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "q.npy", queries)
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.scale", str(index_path), str(Path(tmp) / "q.npy"), str(Path(tmp) / "ids.npy")],
            capture_output=True, text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), check=True,
        )
        probe = json.loads(result.stdout.strip().splitlines()[-1])
        found = np.load(Path(tmp) / "ids.npy")
    return {
        "passages": n,
        "index_type": index_type,
        "build_s": meta["build_s"],
        "disk_mb": index_path.stat().st_size / 1e6,
        "recall_at_10": recall_at_k(found, np.load(exact_path)),
        **probe,
    }


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _probe(index_path: str, queries_path: str, ids_path: str) -> None:
    """In a fresh process: load the index, then search each question alone (as the bot does)."""
    queries = np.load(queries_path)
    faiss = configure_faiss()
    base = _rss_mb()
    started = time.perf_counter()
    index = faiss_build.read_faiss_index(Path(index_path))
    load_s = time.perf_counter() - started
    rss = _rss_mb() - base
    index.search(queries[:5], K)  # warm caches
    times, ids = [], []
    for q in queries:
        t = time.perf_counter()
        _, found = index.search(q[None, :], K)
        times.append(time.perf_counter() - t)
        ids.append(found[0])
    np.save(ids_path, np.array(ids))
    ms = np.array(times) * 1000
    print(json.dumps({
        "load_s": load_s, "rss_mb": rss, "search_p50_ms": float(np.median(ms)),
        "search_p99_ms": float(np.percentile(ms, 99)),
    }))


if __name__ == "__main__":
    _probe(*sys.argv[1:4])
