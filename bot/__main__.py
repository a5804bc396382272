"""``python -m bot``: run the Telegram bot with long polling.

Usage::

    TELEGRAM_BOT_TOKEN=123:ABC python -m bot [--config config.toml]
    python -m bot --or-terminal      # no token set: answer at the terminal instead

The token is read from the environment variable named in ``[telegram] token_env``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from core.cli import ArgumentParser, run
from core.config import load_config
from core.errors import ConfigError, DocQAError


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m bot", description="Run the Telegram bot (long polling).")
    parser.add_argument("--config", type=Path, default=Path("config.toml"), help="config file (default: config.toml)")
    parser.add_argument(
        "--or-terminal",
        action="store_true",
        help="when the token variable is not set, answer questions at the terminal instead",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    args = parser.parse_args(argv)

    config = load_config(args.config)
    token = os.environ.get(config.telegram.token_env, "").strip()
    if not token:
        if args.or_terminal:
            sys.stderr.write(
                f"{config.telegram.token_env} is not set, so answering here instead of on Telegram "
                "(see README, 'Telegram bot').\n"
            )
            from retrieval.__main__ import main as ask

            return ask(["ask", "--config", str(args.config)])
        raise ConfigError(
            f"the environment variable {config.telegram.token_env} is not set; "
            "put the token from @BotFather in it (see README, 'Telegram bot')"
        )

    from telegram.error import InvalidToken, NetworkError

    from bot.app import build_application, run_polling
    from bot.logs import REDACTED, setup_logging

    setup_logging(token, args.verbose)
    try:
        run_polling(build_application(config, token))
    except InvalidToken:
        raise ConfigError(
            f"the Bot API at {config.telegram.base_url} rejected the token in {config.telegram.token_env} "
            "(check it with @BotFather)"
        ) from None
    except NetworkError as exc:  # at start-up; once running, PTB retries by itself
        reason = str(exc).replace(token, REDACTED)
        raise DocQAError(f"cannot reach the Bot API at {config.telegram.base_url}: {reason}") from None
    return 0


if __name__ == "__main__":
    run(main)
