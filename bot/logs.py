"""Logging for the bot: quiet HTTP libraries, and the token scrubbed from every record.

The Bot API puts the token in every request URL, and httpx logs URLs at INFO, so
httpx/httpcore are held at WARNING; as a second line of defence a filter on every
root handler replaces the token wherever it appears (message, arguments, traceback).
"""

from __future__ import annotations

import logging
import sys

REDACTED = "[bot-token]"
# Loggers that put the token in DEBUG records; held at INFO even with --verbose.
TOKEN_AT_DEBUG = ("telegram.Bot", "telegram.ext.ExtBot")


class RedactToken(logging.Filter):
    """Replaces ``token`` in a record's final message and traceback text."""

    def __init__(self, token: str):
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.token:
            return True
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, REDACTED), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.token in record.exc_text:
            record.exc_text = record.exc_text.replace(self.token, REDACTED)
        if record.stack_info and self.token in record.stack_info:
            record.stack_info = record.stack_info.replace(self.token, REDACTED)
        return True


def setup_logging(token: str, verbose: bool = False) -> None:
    """INFO (or DEBUG with ``verbose``) to stderr, token redacted, HTTP libraries at WARNING."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    redact = RedactToken(token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
    for noisy in ("httpx", "httpcore", "sentence_transformers", "transformers", "faiss", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # PTB's Bot logs its API URL, token included, at DEBUG ("Set Bot API URL: …/bot<token>").
    for name in TOKEN_AT_DEBUG:
        logging.getLogger(name).setLevel(logging.INFO)
