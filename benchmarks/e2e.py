"""End to end: a private question injected into the fake Bot API server, to the bot's reply.

Runs the real bot (``bot.app.build_application``) polling ``tests.fake_bot_api.FakeBotApi``
on 127.0.0.1, over the benchmark's eval index, with the configured query backend.  The
baseline is a bare ``model.encode`` of the same question, measured in between.
Importing this module fails (and the figure says "not measured") until the bot and its
fake server exist in the checkout.
"""

from __future__ import annotations

import re
import time

import numpy as np

from bot.app import build_application  # noqa: F401  (ImportError: no bot yet)
from tests.fake_bot_api import BotRunner, FakeBotApi

USER = 4242


def measure(bench) -> list[dict]:
    from benchmarks.__main__ import ms, row, log
    from benchmarks.corpus import questions
    from core.config import load_config
    from core.embedder import load_embedder, onnx_cache_dir

    config = bench.config()
    qs = questions()[1 :: 24 if bench.quick else 6]
    model = bench.st._model
    with FakeBotApi() as api:
        text = config.path.read_text(encoding="utf-8")
        text = re.sub(r'(?m)^base_url = .*$', f'base_url = "{api.base_url}"', text)
        text = re.sub(r'(?m)^base_file_url = .*$', f'base_file_url = "{api.base_file_url}"', text)
        path = config.path.with_name("config-e2e.toml")
        path.write_text(text, encoding="utf-8")
        bot_config = load_config(path)
        embedder = load_embedder(
            bot_config.index.model, backend=bot_config.index.backend, onnx_cache=onnx_cache_dir(bot_config.index.dir)
        )
        runner = BotRunner(build_application(bot_config, api.token, embedder_loader=lambda name: embedder)).start(api)
        try:
            reply_s, encode_s = [], []
            for n, q in enumerate(qs[:3] + qs):
                before = len(api.sent(USER))
                update_id = api.inject(api.private_text(USER, q))
                calls = api.wait_for(lambda: api.sent(USER)[before:], timeout=60)
                if n >= 3:  # the first three warm up
                    reply_s.append(calls[0].at - api.injected_at[update_id])
                    t = time.perf_counter()
                    model.encode([q])
                    encode_s.append(time.perf_counter() - t)
        finally:
            runner.stop()
    p50, p99 = float(np.median(reply_s)), float(np.percentile(reply_s, 99))
    b50, b99 = float(np.median(encode_s)), float(np.percentile(encode_s, 99))
    bench.details["e2e"] = {"questions": len(reply_s), "p50": p50, "p99": p99, "encode_p50": b50, "encode_p99": b99}
    log(f"  {len(reply_s)} questions through the fake Bot API")
    return [
        row("end to end: update to reply p50", ms(p50), ms(b50) + " encode", p50 / b50, "report", None),
        row("end to end: update to reply p99", ms(p99), ms(b99) + " encode", p99 / b99, "report", None),
    ]
