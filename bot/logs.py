"""Logging for the bot: quiet HTTP libraries, and the token scrubbed from every record.

The Bot API puts the token in every request URL, and httpx logs URLs at INFO, so
httpx/httpcore are held at WARNING; as a second line of defence a filter on every
root handler replaces the token wherever it appears (message, arguments, traceback).
"""

from __future__ import annotations

import logging
import sys
from typing import Sequence

REDACTED = "[bot-token]"
# Loggers that put the token in DEBUG records; held at INFO even with --verbose.
TOKEN_AT_DEBUG = ("telegram.Bot", "telegram.ext.ExtBot")


class RedactToken(logging.Filter):
    """Replaces ``token`` (and the ``also`` secrets: webhook secret, database password) in a record's text."""

    def __init__(self, token: str, also: Sequence[str] = ()):
        super().__init__()
        self.token = token
        self.secrets = [s for s in (token, *also) if s]

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if any(s in message for s in self.secrets):
            record.msg, record.args = self._scrub(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self._scrub(record.stack_info)
        return True


def setup_logging(token: str, verbose: bool = False, also: Sequence[str] = ()) -> None:
    """INFO (or DEBUG with ``verbose``) to stderr, token (and ``also``) redacted, HTTP libraries at WARNING."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    redact = RedactToken(token, also)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
    for noisy in ("httpx", "httpcore", "sentence_transformers", "transformers", "faiss", "apscheduler", "tornado.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # PTB's Bot logs its API URL, token included, at DEBUG ("Set Bot API URL: …/bot<token>").
    for name in TOKEN_AT_DEBUG:
        logging.getLogger(name).setLevel(logging.INFO)
