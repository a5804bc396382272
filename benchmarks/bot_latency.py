"""Bot latency: time from an update reaching the (fake) Bot API to the reply arriving there.

Usage::

    python -m benchmarks.bot_latency [--set xquad_en] [--questions 30]

Indexes an evaluation set (eval/<set>/docs, or $EVAL_DIR/<set>/docs) with the real
model, runs the real bot (``bot.app``) against ``tests.fake_bot_api`` on 127.0.0.1, and
asks N questions: one at a time, then all at once from N different chats.  As
baselines, the same run times ``Retriever.answer`` without the bot and a bare
``embedder.encode([question])``, each just before the bot is asked the same question,
and prints ratios to them, since absolute times on a shared machine are noise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EVAL = Path(os.environ.get("EVAL_DIR", REPO / "eval"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="xquad_en", help="evaluation set under the eval folder")
    parser.add_argument("--questions", type=int, default=30)
    args = parser.parse_args()

    from bot.app import build_application
    from core.config import load_config
    from core.embedder import load_embedder
    from index.build import build_index
    from retrieval.retriever import Retriever
    from tests.fake_bot_api import BotRunner, FakeBotApi

    eval_set = EVAL / args.set
    lines = (eval_set / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    step = max(1, len(lines) // args.questions)
    questions = [json.loads(line)["question"] for line in lines[::step][: args.questions]]

    embedder = load_embedder("sentence-transformers/all-MiniLM-L6-v2")
    embedder.encode(["warm up"])
    with tempfile.TemporaryDirectory() as tmp, FakeBotApi() as api:
        root = Path(tmp)
        config_text = (REPO / "config.toml").read_text(encoding="utf-8")
        config_text = config_text.replace('dir = "seeds"', f'dir = "{eval_set / "docs"}"')
        config_text = config_text.replace('base_url = "https://api.telegram.org/bot"', f'base_url = "{api.base_url}"')
        (root / "config.toml").write_text(config_text, encoding="utf-8")
        config = load_config(root / "config.toml")
        report = build_index(config, embedder)
        print(f"index: {report.documents} documents, {report.passages} passages ({report.seconds:.1f}s to build)")

        retriever = Retriever.open(config, embedder)
        runner = BotRunner(build_application(config, api.token, embedder_loader=lambda name: embedder)).start(api)
        try:
            # Baseline and bot alternate question by question, so load from other processes
            # on the machine falls on both alike.
            encode, answer, sequential = [], [], []
            for i, q in enumerate(questions):
                started = time.perf_counter()
                embedder.encode([q])
                encode.append(time.perf_counter() - started)
                started = time.perf_counter()
                retriever.answer(q, top_k=9)  # what the bot asks for: three pages of extracts
                answer.append(time.perf_counter() - started)
                chat = 1000 + i
                update_id = api.inject(api.private_text(chat, q))
                [reply] = api.wait_for(lambda: api.sent(chat), timeout=120)
                sequential.append(reply.at - api.injected_at[update_id])

            started = time.perf_counter()
            ids = {2000 + i: api.inject(api.private_text(2000 + i, q)) for i, q in enumerate(questions)}
            api.wait_for(lambda: all(api.sent(chat) for chat in ids), timeout=300)
            burst_total = time.perf_counter() - started
            burst = [api.sent(chat)[0].at - api.injected_at[update_id] for chat, update_id in ids.items()]
        finally:
            runner.stop()

    base = statistics.median(encode)
    med = statistics.median(sequential)
    ratios = statistics.median(b / e for b, e in zip(sequential, encode))
    print(f"questions: {len(questions)} from {args.set}")
    print(f"bare model.encode([question]) median: {base * 1000:.1f} ms (baseline)")
    print(
        f"Retriever.answer(question) without the bot, median: {statistics.median(answer) * 1000:.1f} ms "
        f"({statistics.median(answer) / base:.1f}x the bare encode)"
    )
    print(
        f"bot, one at a time: median {med * 1000:.1f} ms, p90 {_p90(sequential) * 1000:.1f} ms "
        f"-> {med / base:.1f}x the bare encode (median of per-question ratios {ratios:.1f}x), "
        f"{med / statistics.median(answer):.2f}x Retriever.answer alone"
    )
    print(
        f"bot, {len(questions)} at once: all answered in {burst_total:.2f}s, median per update "
        f"{statistics.median(burst) * 1000:.0f} ms ({burst_total / len(questions) * 1000:.0f} ms per question, "
        f"{burst_total / len(questions) / med:.2f}x the one-at-a-time median)"
    )


def _p90(values: list[float]) -> float:
    return sorted(values)[max(0, int(round(0.9 * len(values))) - 1)]


if __name__ == "__main__":
    main()
