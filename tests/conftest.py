"""Shared fixtures: fake and real embedders, small configs in tmp_path."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tests.fakes import FakeEmbedder, write_config


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def config(tmp_path):
    return write_config(tmp_path)


@pytest.fixture
def api():
    """A fake Telegram Bot API server on 127.0.0.1 (tests/fake_bot_api.py)."""
    from tests.fake_bot_api import FakeBotApi

    with FakeBotApi() as server:
        yield server


@pytest.fixture
def embedder():
    # A wide hashing space: unrelated words do not collide into spurious matches.
    return FakeEmbedder(dimension=1024)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server on 127.0.0.1 for the session (tests/pg_server.py); each test makes its own database."""
    from tests.pg_server import PostgresServer, find_bindir

    if find_bindir() is None:
        reason = "PostgreSQL server binaries not found (apt-get install postgresql, or set PG_BINDIR)"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI installs it (.ci/run): a missing server there is a failure, not a skip
        pytest.skip(reason)
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def real_embedder():
    """The packaged all-MiniLM-L6-v2, loaded once for the whole session."""
    from core.embedder import load_embedder

    return load_embedder("sentence-transformers/all-MiniLM-L6-v2")


# ---------------------------------------------------------------- secrets

_QUIET_IN_PRODUCTION = ("httpx", "httpcore")  # bot.logs.setup_logging holds these at WARNING
from bot.logs import TOKEN_AT_DEBUG  # noqa: E402  (and these at INFO)


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_QUIET_IN_PRODUCTION) and record.levelno < logging.WARNING:
            return  # the product never emits these (and they carry request URLs)
        if record.name in TOKEN_AT_DEBUG and record.levelno < logging.INFO:
            return  # held at INFO by the product, for the same reason
        try:
            self.lines.append(self.format(record))  # message, arguments and traceback
        except Exception as exc:  # a record that cannot format is a bug elsewhere, not a leak
            self.lines.append(f"<unformattable record: {exc!r}>")


@pytest.fixture(scope="session", autouse=True)
def token_appears_in_no_log_line_or_file(tmp_path_factory):
    """The whole suite runs with a recognisable token; afterwards no log line or file holds it.

    Every record at DEBUG and above is formatted without the product's redaction filter, so
    this proves the token is never logged in the first place, not only that it gets scrubbed.
    """
    from tests.fake_bot_api import TOKEN, WEBHOOK_SECRET
    from tests.pg_server import PASSWORD

    # The webhook's secret token and the database password are secrets too.
    secrets = (TOKEN, TOKEN.split(":", 1)[1], WEBHOOK_SECRET, PASSWORD)
    collect = _Collect()
    root = logging.getLogger()
    level = root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    for name in _QUIET_IN_PRODUCTION:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in TOKEN_AT_DEBUG:
        logging.getLogger(name).setLevel(logging.INFO)
    yield
    root.removeHandler(collect)
    root.setLevel(level)
    leaked = [line for line in collect.lines if any(s in line for s in secrets)]
    assert not leaked, f"the bot token appeared in {len(leaked)} log line(s), e.g. {leaked[0][:300]!r}"
    repo = Path(__file__).resolve().parent.parent
    roots = [tmp_path_factory.getbasetemp(), repo / "data"]
    for base in roots:
        for path in base.rglob("*") if base.exists() else []:
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 64 * 1024 * 1024:
                data = path.read_bytes()
                assert not any(s.encode() in data for s in secrets), f"the bot token was written to {path}"
