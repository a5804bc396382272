"""Documents through Telegram with the real model: upload to answer, and what a burst of channel posts costs.

Usage::

    python -m benchmarks.ingest [--set xquad_en] [--posts 50] [--post-delay 2]

Indexes an evaluation set (eval/<set>/docs) with the real model, runs the real bot
(``bot.app``) against ``tests.fake_bot_api`` on 127.0.0.1, and measures:

* an admin uploads a new document (eval/squad2_dev5/docs/Normans.txt, 25 kB): time from
  the update reaching the fake Bot API to the bot's final report, then to the answer of a
  question about it.  Baseline, same run: ``build_index`` adding the same file directly,
  once before the bot runs and once after (the mean), so the ratio is what Telegram adds to
  the build itself.
* ``--posts`` channel posts arrive at once: how many index builds they cost, and the time
  until the last is answerable.  Baseline: one ``build_index`` adding that many files.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EVAL = Path(os.environ.get("EVAL_DIR", REPO / "eval"))
ADMIN = 42
CHANNEL = -1001777
QUESTION = "From which countries did the Norse originate?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="xquad_en", help="evaluation set whose documents are indexed first")
    parser.add_argument("--posts", type=int, default=50)
    parser.add_argument("--post-delay", type=float, default=2.0, help="[ingest] post_delay, seconds")
    args = parser.parse_args()

    from bot.app import build_application
    from core.config import load_config
    from core.embedder import load_embedder
    from index.build import build_index
    from tests.fake_bot_api import BotRunner, FakeBotApi

    upload = EVAL / "squad2_dev5" / "docs" / "Normans.txt"
    lines = (EVAL / "squad2_dev5" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    norman_sentences = [s.strip() + "." for s in upload.read_text(encoding="utf-8").split(". ") if len(s) > 120]
    posts = [f"Harbour notice {n}\n{norman_sentences[n % len(norman_sentences)]}" for n in range(args.posts)]
    embedder = load_embedder("sentence-transformers/all-MiniLM-L6-v2")
    embedder.encode(["warm up"])
    with tempfile.TemporaryDirectory() as tmp, FakeBotApi() as api:
        root = Path(tmp)
        seeds = root / "seeds"
        seeds.mkdir()
        for doc in sorted((EVAL / args.set / "docs").glob("*.txt")):
            (seeds / doc.name).write_bytes(doc.read_bytes())
        config_text = (REPO / "config.toml").read_text(encoding="utf-8")
        config_text = config_text.replace('base_url = "https://api.telegram.org/bot"', f'base_url = "{api.base_url}"')
        config_text = config_text.replace('base_file_url = "https://api.telegram.org/file/bot"', f'base_file_url = "{api.base_file_url}"')
        config_text = config_text.replace("admins = []", f"admins = [{ADMIN}]")
        config_text = config_text.replace("channels = []", f"channels = [{CHANNEL}]")
        config_text = config_text.replace("min_post_chars = 200", "min_post_chars = 60")
        config_text = config_text.replace("post_delay = 10", f"post_delay = {args.post_delay}")
        config_text = config_text.replace('dir = "data/index"', f'dir = "{root / "index"}"')
        config_text = config_text.replace('data_dir = "data"', f'data_dir = "{root / "data"}"')
        (root / "config.toml").write_text(config_text, encoding="utf-8")
        config = load_config(root / "config.toml")
        report = build_index(config, embedder)
        print(f"index: {report.documents} documents, {report.passages} passages ({report.seconds:.1f}s to build)")

        # Baseline: the incremental build that adds the same document, without Telegram.  Run in a
        # worker thread like the bot's builds: on this loaded 2-core machine the same build took
        # 2-3x longer on the main thread than on a worker thread.
        def timed_build() -> float:
            with ThreadPoolExecutor(1) as pool:
                return pool.submit(build_index, config, embedder).result().seconds

        (seeds / "baseline.txt").write_bytes(upload.read_bytes())
        baseline_upload = timed_build()
        (seeds / "baseline.txt").unlink()
        build_index(config, embedder)
        post_dir = seeds / "baseline-posts"
        post_dir.mkdir()
        for n, text in enumerate(posts):
            (post_dir / f"{n}.txt").write_text(text, encoding="utf-8")
        baseline_posts = timed_build()
        for path in post_dir.iterdir():
            path.unlink()
        post_dir.rmdir()
        build_index(config, embedder)

        runner = BotRunner(build_application(config, api.token, embedder_loader=lambda name: embedder)).start(api)
        try:
            ingest = runner.application.bot_data["ingest"]
            update_id = api.inject(api.private_document(ADMIN, "Normans.txt", upload.read_bytes()))
            status = api.wait_for(lambda: api.sent(ADMIN))[0]
            final = api.wait_for(
                lambda: [c for c in api.calls_to("editMessageText")
                         if c.params["message_id"] == status.result["message_id"] and c.params["text"].startswith("✅")],
                timeout=600,
            )[0]
            to_report = final.at - api.injected_at[update_id]
            asked = api.inject(api.private_text(7, QUESTION))
            [answer] = api.wait_for(lambda: api.sent(7), timeout=120)
            to_answer = answer.at - api.injected_at[update_id]
            answered = answer.params["text"].startswith("<b>Answer:</b>") and "Normans" in answer.params["text"]

            builds_before = ingest.builds.builds
            channel = api.channel(CHANNEL, "harbour_news")
            first = None
            for n, text in enumerate(posts):
                update = api.inject(api.channel_post(channel, text, message_id=1000 + n))
                first = first or update
            services = runner.application.bot_data["services"]
            last_doc = f"telegram/posts/{abs(CHANNEL)}-{1000 + args.posts - 1}.txt"
            deadline = time.monotonic() + 600
            while last_doc not in dict(services.documents()):
                assert time.monotonic() < deadline, "posts never indexed"
                time.sleep(0.05)
            posts_indexed = time.perf_counter() - api.injected_at[first]
            post_builds = ingest.builds.builds - builds_before
            documents = len(services.documents())
        finally:
            runner.stop()

        # The same baseline again after the bot's builds, so load that varies over the run falls on both.
        (seeds / "baseline-after.txt").write_bytes(upload.read_bytes())
        baseline_after = timed_build()
        baseline_upload = (baseline_upload + baseline_after) / 2

    print(json.dumps({
        "upload_to_report_s": round(to_report, 2),
        "upload_to_answer_s": round(to_answer, 2),
        "answered_from_upload": answered,
        "baseline_incremental_build_s": round(baseline_upload, 2),
        "baseline_before_after_s": [round(baseline_upload * 2 - baseline_after, 2), round(baseline_after, 2)],
        "ratio_report_to_build": round(to_report / baseline_upload, 2),
        "posts": args.posts,
        "post_delay_s": args.post_delay,
        "builds_for_posts": post_builds,
        "posts_indexed_after_s": round(posts_indexed, 2),
        "baseline_build_adding_posts_s": round(baseline_posts, 2),
        "documents_after": documents,
    }, indent=2))


if __name__ == "__main__":
    main()
