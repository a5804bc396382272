"""Question latency measured in a process like the bot's: ``python -m benchmarks.question_latency``.

Usage::

    python -m benchmarks.question_latency --on CONFIG --off CONFIG --step 12   # prints JSON

The benchmark process itself has imported torch (it builds indexes with the reference
model), and the multilingual engine then runs on torch's OpenMP runtime with torch's
thread settings: questions in other languages came out about 1.6x faster there than in
the bot, which answers with ONNX and never imports torch.  So the interleaved timing loop
runs here, in a fresh process that loads what the bot loads, and says whether torch was
imported (it must not be).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def follow_ups(step: int) -> list[tuple[str, str]]:
    """(first question, follow-up) pairs of the Russian follow-up probes about the benchmark's articles."""
    from benchmarks.corpus import eval_dir
    from eval.follow_ups import read_probes

    path = eval_dir() / "follow_ups.ru.jsonl"
    if not path.is_file():
        return []
    probes = [p for p in read_probes(path) if p.kind == "follow_up" and not p.doc.startswith("pakistan")]
    return [(p.first, p.second) for p in probes[:: max(1, step // 4)]]


def measure(on_config: Path, off_config: Path, step: int) -> dict:
    from benchmarks.corpus import questions, xling_questions
    from core.config import load_config
    from core.embedder import load_embedder, onnx_cache_dir
    from retrieval.retriever import Retriever

    both, english = load_config(on_config), load_config(off_config)
    embedder = load_embedder(both.index.model, backend="auto", onnx_cache=onnx_cache_dir(both.index.dir))
    on = Retriever.open(both, embedder)  # the multilingual encoder as the bot loads it
    off = Retriever.open(english, embedder)
    qs = questions()[::step]
    others = xling_questions()[::step][: len(qs)]
    for q, o in zip(qs[:5], others[:5]):
        on.answer(q), off.answer(q), on.answer(o)
    times: dict[str, list[float]] = {"off": [], "on": [], "other": [], "follow_up": [], "follow_up_alone": []}
    for q, o in zip(qs, others):  # interleaved: all three see the same machine load
        for retriever, question, key in ((off, q, "off"), (on, q, "on"), (on, o, "other")):
            started = time.perf_counter()
            retriever.answer(question)
            times[key].append(time.perf_counter() - started)
    # Russian follow-ups (eval/follow_ups.ru.jsonl) with the previous turn as context, against
    # the same question alone, interleaved.
    for first, second in follow_ups(step):
        turn = on.answer(first).turn
        for context, key in ((turn, "follow_up"), (None, "follow_up_alone")):
            started = time.perf_counter()
            on.answer(second, context=context)
            times[key].append(time.perf_counter() - started)
    on.close(), off.close()
    return {"times": times, "torch_imported": "torch" in sys.modules, "embedder": type(embedder).__name__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.question_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--on", type=Path, required=True, help="config with the multilingual path")
    parser.add_argument("--off", type=Path, required=True, help="the same config without it")
    parser.add_argument("--step", type=int, default=12, help="every STEP-th question")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.on, args.off, args.step)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
