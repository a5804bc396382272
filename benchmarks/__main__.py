"""``python -m benchmarks [--quick]``: every figure as a ratio to a baseline from the same run.

Usage::

    python -m benchmarks            # full: 1M-passage scale figure (first run builds it: ~20 min)
    python -m benchmarks --quick    # 100k-passage scale figure, fewer repeats (~5 min fresh)
    python -m benchmarks --only latency,cold
    python -m benchmarks --only milvus  # question latency with the Milvus store (a milvus-lite server) / FAISS
    python -m benchmarks --only milvus_multilingual  # the same for questions in other languages

The machine is shared and noisy, so each figure divides a measurement by a baseline
taken in the same run, interleaved where possible, and reports medians.  Results
(JSON) and caches (embeddings, synthetic indexes) go to benchmarks/results/ (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.corpus import CACHE, REPO, RESULTS, cached_embeddings, centre_texts, questions, write_seeds, xling_questions

FIGURES = ("latency", "followup", "build", "incremental", "cold", "scale", "e2e", "milvus", "multilingual", "milvus_multilingual")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller scale corpus and fewer repeats")
    parser.add_argument("--only", default=",".join(FIGURES), help=f"comma-separated subset of {','.join(FIGURES)}")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    if only - set(FIGURES):
        parser.error(f"unknown figure(s): {', '.join(sorted(only - set(FIGURES)))}")
    bench = Bench(quick=args.quick)
    rows: list[dict] = []
    for name in FIGURES:
        if name in only:
            log(f"== {name}")
            rows.extend(getattr(bench, name)())
    print()
    print(render(rows, args.quick))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("quick.json" if args.quick else "full.json")
    out.write_text(json.dumps({"machine": machine(), "quick": args.quick, "rows": rows, "details": bench.details}, indent=2))
    log(f"results written to {out}")
    return 0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def row(figure, value, baseline, ratio, target, met, note="") -> dict:
    return {"figure": figure, "value": value, "baseline": baseline, "ratio": ratio, "target": target, "met": met, "note": note}


def render(rows: list[dict], quick: bool) -> str:
    lines = [
        f"Benchmarks ({'quick' if quick else 'full'}) on {machine()['cpu']}, {machine()['cores']} cores",
        "",
        "| figure | measured | baseline (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r['ratio']:.2f}x" if isinstance(r["ratio"], float) else r["ratio"]
        met = {True: "yes", False: "**no**", None: "-"}[r["met"]]
        lines.append(f"| {r['figure']} | {r['value']} | {r['baseline']} | {ratio} | {r['target']} | {met} |")
    notes = [f"- {r['figure']}: {r['note']}" for r in rows if r["note"]]
    return "\n".join(lines + ([""] + notes if notes else []))


def machine() -> dict:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


class Bench:
    """Shared state: one work folder, one eval index, the reference model loaded once."""

    def __init__(self, quick: bool):
        self.quick = quick
        self.details: dict = {}
        self.work = RESULTS / "work"
        self._st = None
        self._config = None

    # ------------------------------------------------------------ shared setup

    @property
    def st(self):
        """The reference sentence-transformers embedder (torch)."""
        if self._st is None:
            from core.embedder import load_embedder

            self._st = load_embedder("sentence-transformers/all-MiniLM-L6-v2", backend="torch")
        return self._st

    def config(self):
        """A config over a 100-document seeds folder made from the eval sets, index built."""
        if self._config is None:
            from core.config import load_config
            from index.build import build_index

            shutil.rmtree(self.work, ignore_errors=True)
            write_seeds(self.work / "seeds")
            # The English pipeline as it was before the multilingual path: every figure but
            # ``multilingual`` keeps its meaning (that one compares the two).
            text = (REPO / "config.toml").read_text(encoding="utf-8")
            text = _english_only(text)
            (self.work / "config.toml").write_text(text, encoding="utf-8")
            (self.work / "data").mkdir(parents=True, exist_ok=True)
            # The ONNX export is per model, not per index: keep it across runs.
            shared = CACHE / "onnx"
            shared.mkdir(parents=True, exist_ok=True)
            (self.work / "data" / "index").mkdir(parents=True, exist_ok=True)
            os.symlink(shared, self.work / "data" / "index" / "onnx")
            self._config = load_config(self.work / "config.toml")
            report = build_index(self._config, self.st)  # also exports ONNX, unless cached
            self._drop_versions(self._config)
            report = build_index(self._config, self.st)  # the timed full build: export cached
            self.details["full_builds"] = [(report.embedded, report.seconds)]
            log(f"  eval index: {report.documents} documents, {report.passages} passages, {report.seconds:.1f} s")
        return self._config

    def shipped_config(self, name: str):
        """The shipped config.toml (multilingual path on) over the same seeds, its index in a fresh
        folder ``name`` of the work folder (ONNX export shared); nothing built yet."""
        from core.config import load_config

        self.config()  # the seeds folder and the ONNX export
        work = self.work / name
        shutil.rmtree(work, ignore_errors=True)
        (work / "data" / "index").mkdir(parents=True)
        os.symlink(CACHE / "onnx", work / "data" / "index" / "onnx")
        text = (REPO / "config.toml").read_text(encoding="utf-8").replace('dir = "seeds"', f'dir = "{self.work / "seeds"}"')
        (work / "config.toml").write_text(text, encoding="utf-8")
        return load_config(work / "config.toml")

    def retriever(self, backend: str):
        from core.embedder import load_embedder, onnx_cache_dir
        from retrieval.retriever import Retriever

        config = self.config()
        embedder = self.st if backend == "torch" else load_embedder(
            config.index.model, backend=backend, onnx_cache=onnx_cache_dir(config.index.dir)
        )
        return Retriever.open(config, embedder)

    # ------------------------------------------------------------ figures

    def latency(self) -> list[dict]:
        """Retriever.answer (the bot's call) against a bare model.encode of the same question."""
        model = self.st._model
        out = []
        for backend in ("auto", "torch"):
            # The torch row is for comparison: fewer questions keep the run short.
            qs = questions()[:: (12 if self.quick else 4) * (1 if backend == "auto" else 5)]
            retriever = self.retriever(backend)
            for q in qs[:5]:
                retriever.answer(q)
                model.encode([q])
            answer_s, encode_s, own_s = [], [], []
            for q in qs:  # interleaved, so all see the same machine load
                t = time.perf_counter()
                model.encode([q])
                encode_s.append(time.perf_counter() - t)
                t = time.perf_counter()
                retriever.answer(q)
                answer_s.append(time.perf_counter() - t)
                t = time.perf_counter()
                retriever.embedder.encode([q])
                own_s.append(time.perf_counter() - t)
            kind = type(retriever.embedder).__name__
            if backend == "auto":
                # The floor of an answer that embeds the question once and nothing else.
                e50 = float(np.median(own_s))
                out.append(row(f"question embedding alone ({kind})", ms(e50), ms(float(np.median(encode_s))) + " encode",
                               e50 / float(np.median(encode_s)), "report", None))
            retriever.close()
            p50, p99 = np.median(answer_s), np.percentile(answer_s, 99)
            b50, b99 = np.median(encode_s), np.percentile(encode_s, 99)
            self.details[f"latency_{backend}"] = {"questions": len(qs), "embedder": kind, "answer_p50": p50, "answer_p99": p99, "encode_p50": b50, "encode_p99": b99}
            label = f"question latency p50 ({backend}: {kind})"
            out.append(row(label, ms(p50), ms(b50) + " encode", p50 / b50, "<= 1.3x", bool(p50 / b50 <= 1.3)))
            out.append(row(label.replace("p50", "p99"), ms(p99), ms(b99) + " encode", p99 / b99, "<= 3x", bool(p99 / b99 <= 3)))
        return out

    def followup(self) -> list[dict]:
        """A follow-up answered with the previous turn as context against the same question alone (eval/follow_ups.jsonl)."""
        from eval.follow_ups import read_probes, time_pairs

        probes = [p for p in read_probes() if p.kind == "follow_up" and not p.doc.startswith("pakistan")]
        retriever = self.retriever("auto")
        try:
            timing = time_pairs(retriever, probes)
        finally:
            retriever.close()
        self.details["followup"] = timing
        ratio = timing["ratio_to_alone"]
        return [row("follow-up with context p50 / same question alone", f"{timing['with_context_ms']:.1f} ms",
                    f"{timing['alone_ms']:.1f} ms alone", ratio, "<= 1.2x", bool(ratio <= 1.2),
                    f"{timing['timed']} follow-ups (ratio of the means {timing['mean_ratio_to_alone']:.2f}x: the few answered "
                    f"alone first are searched twice); the standalone rewrites take {timing['standalone_ms']:.1f} ms")]

    def build(self) -> list[dict]:
        """A full build's passages/s against model.encode of the same passages at its best batch size."""
        from index.build import build_index

        config = self.config()
        texts = self._passages(config)
        model = self.st._model
        sample = texts[:: max(1, len(texts) // 256)]  # the best batch size, found on a sample
        rate = {}
        for size in (16, 32, 64, 128):
            t = time.perf_counter()
            model.encode(sample, batch_size=size)
            rate[size] = len(sample) / (time.perf_counter() - t)
        best = max(rate, key=rate.get)
        builds = [embedded / seconds for embedded, seconds in self.details["full_builds"]]
        bares = []
        for n in range(1 if self.quick else 2):
            if n:
                self._drop_versions(config)
                report = build_index(config, self.st)
                builds.append(report.embedded / report.seconds)
                self.details["full_builds"].append((report.embedded, report.seconds))
            t = time.perf_counter()
            model.encode(texts, batch_size=best)
            bares.append(len(texts) / (time.perf_counter() - t))
        build_rate, bare_rate = statistics.median(builds), statistics.median(bares)
        self.details["build"] = {"passages": len(texts), "encode_rate_by_batch": rate, "best_batch": best, "builds": builds, "bares": bares}
        return [row("index build, passages/s", f"{build_rate:.0f}/s ({len(texts)} passages)",
                    f"{bare_rate:.0f}/s encode, batch {best}", build_rate / bare_rate, ">= 0.9x", bool(build_rate / bare_rate >= 0.9))]

    def incremental(self) -> list[dict]:
        """Re-index after editing 1 of 100 documents, against a full build of the same 100."""
        from index.build import build_index

        config = self.config()
        full = [seconds for _, seconds in self.details["full_builds"]]
        doc = sorted((self.work / "seeds").glob("*.txt"))[50]
        original = doc.read_text(encoding="utf-8")
        times = []
        for n in range(3 if self.quick else 5):
            doc.write_text(original.replace("\n\n", f"\n\nEdited paragraph number {n} of this document.\n\n", 1), encoding="utf-8")
            report = build_index(config, self.st)
            assert report.changed == [doc.name] and report.embedded <= 10, report
            times.append(report.seconds)
        doc.write_text(original, encoding="utf-8")
        build_index(config, self.st)
        inc, base = statistics.median(times), statistics.median(full)
        return [row("incremental reindex (1 of 100 docs edited)", f"{inc:.2f} s", f"{base:.1f} s full build", inc / base, "<= 0.05x", bool(inc / base <= 0.05))]

    def cold(self) -> list[dict]:
        """``python -m retrieval ask Q`` in a fresh process against importing sentence-transformers + loading the model."""
        config = self.config()
        question = questions()[0]
        ask = [sys.executable, "-m", "retrieval", "ask", "--json", "--config", str(config.path), question]
        model_path = self.st.model_path
        bare = [sys.executable, "-c", f"from sentence_transformers import SentenceTransformer; SentenceTransformer({str(model_path)!r}, device='cpu')"]
        asks, bares = [], []
        for _ in range(2 if self.quick else 3):
            asks.append(_timed(ask))
            bares.append(_timed(bare))
        ask_s, bare_s = statistics.median(a[0] for a in asks), statistics.median(b[0] for b in bares)
        ask_mb, bare_mb = max(a[1] for a in asks), max(b[1] for b in bares)
        self.details["cold"] = {"ask": asks, "bare": bares}
        torch_ask = self._cold_torch(config, question)
        out = [row("cold start to first answer (onnx)", f"{ask_s:.2f} s, {ask_mb:.0f} MB peak",
                   f"{bare_s:.2f} s, {bare_mb:.0f} MB", ask_s / bare_s, "<= 1.3x", bool(ask_s / bare_s <= 1.3))]
        if torch_ask:
            out.append(row("cold start to first answer (torch)", f"{torch_ask[0]:.2f} s, {torch_ask[1]:.0f} MB peak",
                           f"{bare_s:.2f} s, {bare_mb:.0f} MB", torch_ask[0] / bare_s, "<= 1.3x", bool(torch_ask[0] / bare_s <= 1.3)))
        return out

    def _cold_torch(self, config, question):
        path = self.work / "config-torch.toml"
        path.write_text(config.path.read_text().replace('backend = "auto"', 'backend = "torch"'))
        return _timed([sys.executable, "-m", "retrieval", "ask", "--json", "--config", str(path), question])

    def scale(self) -> list[dict]:
        """Search at 1M (100k with --quick) synthetic passages against search at 10k."""
        from benchmarks.scale import measure_size

        centres = cached_embeddings("centres", centre_texts(), self.st)
        queries = cached_embeddings("questions", questions(), self.st)[:500]
        big = 100_000 if self.quick else 1_000_000
        small = measure_size(10_000, centres, queries, log)
        large = measure_size(big, centres, queries, log)
        self.details["scale"] = {"small": small, "large": large, "centres": len(centres), "queries": len(queries)}
        ratio = large["search_p50_ms"] / small["search_p50_ms"]
        return [
            row(f"search p50 at {big:,} ({large['index_type']}) / at 10k ({small['index_type']})",
                f"{large['search_p50_ms']:.2f} ms (p99 {large['search_p99_ms']:.2f})",
                f"{small['search_p50_ms']:.2f} ms (p99 {small['search_p99_ms']:.2f})", ratio, "<= 3x", bool(ratio <= 3)),
            row(f"recall@10 at {big:,} vs exact search", f"{large['recall_at_10']:.3f}", "exact", "-", ">= 0.95",
                bool(large["recall_at_10"] >= 0.95)),
            row(f"index at {big:,}: resident / on disk / load", f"{large['rss_mb']:.0f} MB / {large['disk_mb']:.0f} MB / {large['load_s']:.2f} s",
                f"10k: {small['rss_mb']:.0f} MB / {small['disk_mb']:.0f} MB / {small['load_s']:.3f} s", "-", "report", None,
                f"{large['index_type']} build took {large['build_s']:.0f} s (cached in benchmarks/results/cache)"),
        ]

    def multilingual(self) -> list[dict]:
        """The multilingual path's costs against the English-only pipeline, same seeds, same run.

        Build time and index size with both encoders against the English model alone; an
        English question's latency with the multilingual path on (language check) and off;
        a question in another language (multilingual path) against an English one (off).
        """
        from core.multilingual import load_multilingual
        from index.build import build_index

        english = self.config()
        both = self.shipped_config("multilingual")
        encoder = load_multilingual(both.index.multilingual_model)
        report = build_index(both, self.st, multilingual=encoder)
        english_s = statistics.median(seconds for _, seconds in self.details["full_builds"])
        size = lambda config: sum(p.stat().st_size for p in (Path(config.index.dir) / "current").resolve().rglob("*") if p.is_file())
        english_mb, both_mb = size(english) / 2**20, size(both) / 2**20
        self.details["multilingual_build"] = {"seconds": report.seconds, "texts": report.multilingual_embedded, "english_seconds": english_s}

        # Timed in a fresh process that loads what the bot loads (benchmarks/question_latency.py):
        # this one has imported torch, whose OpenMP runtime the multilingual engine then uses.
        step = 12 if self.quick else 4
        probe = subprocess.run(
            [sys.executable, "-m", "benchmarks.question_latency", "--on", str(both.path), "--off", str(english.path), "--step", str(step)],
            cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, check=True,
        )
        measured = json.loads(probe.stdout.strip().splitlines()[-1])
        if measured["torch_imported"]:
            log("  warning: the latency probe imported torch; the bot does not")
        on_s, off_s, other_s = (measured["times"][key] for key in ("on", "off", "other"))
        qs, others = questions()[::step], xling_questions()[::step]
        on50, off50, other50 = (float(np.median(x)) for x in (on_s, off_s, other_s))
        ask = [sys.executable, "-m", "retrieval", "ask", "--json", "--config"]
        cold_on, cold_off = [], []
        for _ in range(2 if self.quick else 3):
            cold_on.append(_timed(ask + [str(both.path), others[0]]))
            cold_off.append(_timed(ask + [str(english.path), qs[0]]))
        cold_on = [c for c in cold_on if c] or [(float("nan"), float("nan"))]
        cold_off = [c for c in cold_off if c] or [(float("nan"), float("nan"))]
        con, coff = statistics.median(c[0] for c in cold_on), statistics.median(c[0] for c in cold_off)
        mon, moff = max(c[1] for c in cold_on), max(c[1] for c in cold_off)
        other99, off99 = float(np.percentile(other_s, 99)), float(np.percentile(off_s, 99))
        self.details["multilingual_latency"] = {"questions": len(on_s), "on_p50": on50, "off_p50": off50, "other_p50": other50}
        return [
            row("index build with both encoders", f"{report.seconds:.1f} s ({report.multilingual_embedded} texts for e5)",
                f"{english_s:.1f} s English model only", report.seconds / english_s, "report", None),
            row("index on disk with both encoders", f"{both_mb:.1f} MB", f"{english_mb:.1f} MB English only", both_mb / english_mb, "report", None),
            row("English question p50, multilingual path on / off", ms(on50), ms(off50) + " off", on50 / off50, "<= 1.3x", bool(on50 / off50 <= 1.3)),
            row("question in another language p50 (multilingual path)", ms(other50), ms(off50) + " English, off", other50 / off50,
                "<= 2x", bool(other50 / off50 <= 2)),
            row("question in another language p99", ms(other99), ms(off99) + " English, off", other99 / off99, "report", None),
            row("cold start to first answer, another language (onnx)", f"{con:.2f} s, {mon:.0f} MB peak",
                f"{coff:.2f} s, {moff:.0f} MB English, off", con / coff, "report", None),
        ] + self._follow_up_rows(measured["times"])

    def _follow_up_rows(self, times: dict) -> list[dict]:
        """Russian follow-ups with context against the same question alone (benchmarks/question_latency.py)."""
        with_s, alone_s = times.get("follow_up", []), times.get("follow_up_alone", [])
        if not with_s:
            return [row("follow-up in another language p50", "not measured", "-", "-", "report", None, "no eval/follow_ups.ru.jsonl")]
        w50, a50 = float(np.median(with_s)), float(np.median(alone_s))
        return [row("follow-up in another language p50 (Russian, with context)", ms(w50), ms(a50) + " same question alone", w50 / a50,
                    "report", None, f"{len(with_s)} follow-ups; searched with the previous question joined, a longer text to encode")]

    def e2e(self) -> list[dict]:
        """Update to reply through the fake Bot API server (needs bot/ and tests/fake_bot_api.py)."""
        try:
            from benchmarks.e2e import measure
        except ImportError as exc:
            return [row("end to end: update to reply", "not measured", "-", "-", "report", None,
                        f"needs bot/app.py and tests/fake_bot_api.py in the checkout ({exc}); benchmarks/e2e.py measures it once they are")]
        return measure(self)

    def milvus(self) -> list[dict]:
        """Question latency with the Milvus store (a milvus-lite server on 127.0.0.1) against the FAISS store."""
        from benchmarks.milvus import measure

        return measure(self)

    def milvus_multilingual(self) -> list[dict]:
        """Questions in other languages with the Milvus store against the FAISS store (both encoders in both)."""
        from benchmarks.milvus import measure_multilingual

        return measure_multilingual(self)

    # ------------------------------------------------------------ helpers

    def _passages(self, config) -> list[str]:
        from index.chunk import ChunkSettings, chunk_document

        settings = ChunkSettings(config.index.passage_chars, config.index.min_paragraph_chars, config.index.overlap_sentences)
        texts = []
        for path in sorted((self.work / "seeds").glob("*.txt")):
            texts.extend(p.text for p in chunk_document(path.name, path.read_text(encoding="utf-8"), settings)[1])
        return texts

    def _drop_versions(self, config) -> None:
        """Forget built versions (not the ONNX export), so the next build is a full one."""
        for path in Path(config.index.dir).iterdir():
            if path.name != "onnx":
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def _english_only(config_text: str) -> str:
    """The config with the multilingual path turned off."""
    import re

    return re.sub(r"(?m)^multilingual_model = .*$", 'multilingual_model = ""', config_text)


# Runs a command's Python in-process and reports its peak RSS (VmHWM) at exit.  The
# child's own rusage would count the benchmark process it was forked from.
_PEAK = (
    "import atexit, runpy, sys\n"
    "def peak():\n"
    "    line = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
    "    sys.stderr.write('PEAK_KB ' + line.split()[1] + '\\n')\n"
    "atexit.register(peak)\n"
    "sys.argv = sys.argv[1:]\n"
    "if sys.argv[0] == '-m':\n"
    "    sys.argv = sys.argv[1:]\n"
    "    runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
    "else:\n"
    "    exec(compile(sys.argv[1], '<bench>', 'exec'))\n"
)


def _timed(command: list[str]) -> tuple[float, float] | None:
    """Wall seconds and peak resident MB of ``python ARGS...`` run to completion in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        code = subprocess.call([command[0], "-c", _PEAK, *command[1:]], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        elapsed = time.perf_counter() - started
        stderr.seek(0)
        err = stderr.read().decode(errors="replace").strip().splitlines()
    if code != 0 or not err or not err[-1].startswith("PEAK_KB "):
        log(f"  {' '.join(command[1:4])} failed: {err[-3:]}")
        return None
    return elapsed, int(err[-1].split()[1]) / 1024


if __name__ == "__main__":
    sys.exit(main())
