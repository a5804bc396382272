"""One bot replica for tests: ``python -m bot`` with the fake embedder and quick job intervals.

Usage (from the repository root, as tests/test_replicas.py starts it)::

    FAKE_BOT_TOKEN=... TELEGRAM_WEBHOOK_SECRET=... python -m tests.replica_bot --config CONFIG

Everything else is the real entry point: config, secrets from the environment, logging
with the token redacted, webhook or polling, SIGTERM for a clean stop.
"""

from __future__ import annotations

import sys

from bot.__main__ import main
from core.cli import run
from tests.fakes import FakeEmbedder

# Seconds between digest checks and between checks for an index built by another replica.
DIGEST_EVERY = 0.2
INDEX_WATCH_EVERY = 0.3

if __name__ == "__main__":
    embedder = FakeEmbedder(dimension=1024)  # the same vectors as the tests' own `embedder` fixture
    run(
        lambda: main(
            sys.argv[1:],
            embedder_loader=lambda name: embedder,
            digest_every=DIGEST_EVERY,
            index_watch_every=INDEX_WATCH_EVERY,
        )
    )
