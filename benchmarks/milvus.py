"""Question latency with ``[index] store = "milvus"`` (a milvus-lite server on 127.0.0.1) against the FAISS store.

The benchmark's eval index is built a second time into a ``milvus-lite server``
started for the run (data in benchmarks/results/work/milvus, removed after), and
``Retriever.answer`` is timed on the same questions with each store in turn,
interleaved, with the same ONNX question encoder.  milvus-lite is Milvus's
single-process Python engine: the figure shows the cost of the network client and
of a separate search process, not what a Milvus cluster does (docs/deploy.md).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np


def measure(bench) -> list[dict]:
    from dataclasses import replace

    from benchmarks.__main__ import log, ms, row
    from benchmarks.corpus import questions
    from core.embedder import load_embedder, onnx_cache_dir
    from index.build import build_index
    from retrieval.retriever import Retriever
    from tests.milvus_lite import MilvusLiteServer

    config = bench.config()
    data = bench.work / "milvus"
    shutil.rmtree(data, ignore_errors=True)
    server = MilvusLiteServer(data).start()
    try:
        milvus_config = replace(
            config,
            index=replace(config.index, store="milvus"),
            milvus=replace(config.milvus, uri=server.uri, collection="bench"),
        )
        started = time.perf_counter()
        report = build_index(milvus_config, bench.st)
        log(f"  milvus-lite build: {report.passages} passages in {time.perf_counter() - started:.1f} s")
        milvus_mb, faiss_mb = _megabytes(data), _megabytes(Path(config.index.dir) / "current")
        embedder = load_embedder(config.index.model, backend=config.index.backend, onnx_cache=onnx_cache_dir(config.index.dir))
        stores = {"faiss": Retriever.open(config, embedder), "milvus": Retriever.open(milvus_config, embedder)}
        qs = questions()[:: 12 if bench.quick else 4]
        times, same = _interleave(stores, qs)
    finally:
        server.kill()
        shutil.rmtree(data, ignore_errors=True)
    m50, f50 = float(np.median(times["milvus"])), float(np.median(times["faiss"]))
    m99, f99 = float(np.percentile(times["milvus"], 99)), float(np.percentile(times["faiss"], 99))
    bench.details["milvus"] = {"questions": len(qs), "same_answer_sentence": same, "milvus": times["milvus"], "faiss": times["faiss"]}
    note = (
        f"milvus-lite server on 127.0.0.1 (one Python process, not a cluster); same answer sentence for {same} of {len(qs)} "
        "questions; both include the question encode"
    )
    per = 1000 / report.passages
    return [
        row("index on disk per 1,000 passages, Milvus store (milvus-lite)", f"{milvus_mb * per:.1f} MB", f"{faiss_mb * per:.1f} MB FAISS store",
            milvus_mb / faiss_mb, "report", None, f"{report.passages} passages, {milvus_mb:.1f} MB against {faiss_mb:.1f} MB"),
        row("question latency p50, Milvus store (milvus-lite)", ms(m50), ms(f50) + " FAISS store", m50 / f50, "report", None, note),
        row("question latency p99, Milvus store (milvus-lite)", ms(m99), ms(f99) + " FAISS store", m99 / f99, "report", None),
    ]


def _megabytes(folder: Path) -> float:
    folder = folder.resolve()
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def _interleave(stores: dict, qs: list[str]) -> tuple[dict[str, list[float]], int]:
    """Seconds per question for each of the ``"faiss"`` and ``"milvus"`` retrievers, asked in turn
    (so both see the same machine load), and how often they chose the same answer sentence
    (scores differ in the last bits: Milvus returns float32 distances).  Closes the retrievers."""
    times: dict[str, list[float]] = {name: [] for name in stores}
    same = 0
    for q in qs[:5]:  # warm both: first queries load and memoise
        for retriever in stores.values():
            retriever.answer(q)
    for q in qs:
        answers = {}
        for name, retriever in stores.items():
            t = time.perf_counter()
            answers[name] = retriever.answer(q)
            times[name].append(time.perf_counter() - t)
        same += _where(answers["faiss"]) == _where(answers["milvus"])
    for retriever in stores.values():
        retriever.close()
    return times, same


def _where(answer) -> tuple | None:
    c = answer.candidate
    return None if c is None else (c.doc, c.start, c.end, answer.answered)


def measure_multilingual(bench) -> list[dict]:
    """Questions in other languages with the Milvus store against the FAISS store, both built with both encoders.

    The benchmark's 100-document seeds are built with the shipped config (multilingual path
    on) into a FAISS version folder and into a ``milvus-lite server``; ``Retriever.answer``
    is timed on xquad_xling questions (es, de, ru, zh, el, vi) with each store in turn,
    interleaved, the same ONNX MiniLM and multilingual encoder in both.
    """
    from dataclasses import replace

    from benchmarks.__main__ import log, ms, row
    from benchmarks.corpus import xling_questions
    from core.embedder import load_embedder, onnx_cache_dir
    from core.multilingual import load_multilingual
    from index.build import build_index
    from retrieval.retriever import Retriever
    from tests.milvus_lite import MilvusLiteServer

    config = bench.shipped_config("milvus-multilingual")
    work = bench.work / "milvus-multilingual"
    encoder = load_multilingual(config.index.multilingual_model)
    server = MilvusLiteServer(work / "milvus").start()
    try:
        milvus_config = replace(
            config, index=replace(config.index, store="milvus"), milvus=replace(config.milvus, uri=server.uri, collection="bench_ml"),
        )
        builds = {}
        for name, cfg in (("faiss", config), ("milvus", milvus_config)):
            report = build_index(cfg, bench.st, multilingual=encoder)
            builds[name] = report.seconds
            log(f"  {name} build with both encoders: {report.passages} passages in {report.seconds:.1f} s")
        embedder = load_embedder(config.index.model, backend="auto", onnx_cache=onnx_cache_dir(config.index.dir))
        stores = {name: Retriever.open(cfg, embedder, multilingual=encoder) for name, cfg in (("faiss", config), ("milvus", milvus_config))}
        qs = xling_questions()[:: 12 if bench.quick else 4]
        times, same = _interleave(stores, qs)
    finally:
        server.kill()
        shutil.rmtree(work, ignore_errors=True)
    m50, f50 = float(np.median(times["milvus"])), float(np.median(times["faiss"]))
    m99, f99 = float(np.percentile(times["milvus"], 99)), float(np.percentile(times["faiss"], 99))
    bench.details["milvus_multilingual"] = {"questions": len(qs), "same_answer_sentence": same, "builds": builds}
    note = f"same answer sentence for {same} of {len(qs)} questions; both include the multilingual question encode"
    return [
        row("question in another language p50, Milvus store (milvus-lite)", ms(m50), ms(f50) + " FAISS store", m50 / f50, "report", None, note),
        row("question in another language p99, Milvus store (milvus-lite)", ms(m99), ms(f99) + " FAISS store", m99 / f99, "report", None),
        row("index build with both encoders, Milvus store (milvus-lite)", f"{builds['milvus']:.1f} s", f"{builds['faiss']:.1f} s FAISS store",
            builds["milvus"] / builds["faiss"], "report", None),
    ]
