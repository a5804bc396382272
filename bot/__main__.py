"""``python -m bot``: run the Telegram bot (long polling, or a webhook when configured); ``python -m bot export``: an eval set from real use.

Usage::

    TELEGRAM_BOT_TOKEN=123:ABC python -m bot [--config config.toml]
    python -m bot --or-terminal      # no token set: answer at the terminal instead
    python -m bot export --out real.jsonl [--out-of-corpus FILE] [--min-declines N]

The token is read from the environment variable named in ``[telegram] token_env``; in
webhook mode (``[telegram] webhook_url``) the secret token from ``webhook_secret_env``,
and with ``[bot] database_url`` the database password from ``database_password_env``.
``export`` reads the question log in the bot's state database (no token needed).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from core.cli import ArgumentParser, run
from core.config import load_config
from core.errors import ConfigError, DocQAError


# What Telegram accepts as a webhook's secret token.
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


def main(argv: list[str] | None = None, **options: Any) -> int:
    """Run the bot; ``options`` go to ``bot.app.build_application`` (tests pass a fake embedder loader)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["export"]:
        return export(argv[1:])
    parser = ArgumentParser(
        prog="python -m bot",
        description="Run the Telegram bot (long polling or webhook).",
        epilog="python -m bot export --out FILE.jsonl: questions from the question log as an eval set "
        "(see python -m bot export --help).",
    )
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

    secret = None
    if config.telegram.webhook_url:
        secret = os.environ.get(config.telegram.webhook_secret_env, "").strip()
        if not SECRET_TOKEN.fullmatch(secret):
            raise ConfigError(
                f"webhook mode needs a secret token in the environment variable {config.telegram.webhook_secret_env}: "
                "1-256 characters of A-Z, a-z, 0-9, _ and - (e.g. from: openssl rand -hex 32)"
            )
    password = os.environ.get(config.bot.database_password_env) or None

    from telegram.error import InvalidToken, NetworkError

    from bot.app import build_application, run
    from bot.logs import REDACTED, setup_logging

    setup_logging(token, args.verbose, also=[s for s in (secret, password) if s])
    try:
        run(build_application(config, token, database_password=password, **options), config.telegram, secret)
    except InvalidToken:
        raise ConfigError(
            f"the Bot API at {config.telegram.base_url} rejected the token in {config.telegram.token_env} "
            "(check it with @BotFather)"
        ) from None
    except NetworkError as exc:  # at start-up; once running, PTB retries by itself
        reason = str(exc).replace(token, REDACTED)
        raise DocQAError(f"cannot reach the Bot API at {config.telegram.base_url}: {reason}") from None
    return 0


def export(argv: list[str]) -> int:
    from bot.export import MIN_DECLINES, default_out_of_corpus, export_eval_set
    from bot.state import STATE_FILE, open_state

    parser = ArgumentParser(
        prog="python -m bot export",
        description="Write questions from the question log in the format python -m retrieval eval reads: "
        "those answered helpfully (their answer sentence as gold) and, separately, those declined "
        "repeatedly (out-of-corpus candidates).",
    )
    parser.add_argument("--config", type=Path, default=Path("config.toml"), help="config file (default: config.toml)")
    parser.add_argument("--out", type=Path, required=True, help="questions with helpful answers (JSON lines)")
    parser.add_argument(
        "--out-of-corpus", type=Path, help="declined questions (default: OUT with .out-of-corpus before its extension)"
    )
    parser.add_argument(
        "--min-declines", type=int, default=MIN_DECLINES,
        help=f"times a question (or a near-duplicate) was declined to be listed (default: {MIN_DECLINES})",
    )
    args = parser.parse_args(argv)
    if args.min_declines < 1:
        raise ConfigError(f"--min-declines must be at least 1. Currently, --min-declines is {args.min_declines}")
    config = load_config(args.config)
    path = config.bot.data_dir / STATE_FILE
    if not config.bot.database_url and not path.is_file():
        raise DocQAError(f"no question log: {path} does not exist (the bot has not run with this config yet)")
    out_of_corpus = args.out_of_corpus or default_out_of_corpus(args.out)
    db = open_state(config.bot, os.environ.get(config.bot.database_password_env) or None)
    try:
        report = export_eval_set(db, args.out, out_of_corpus, args.min_declines)
    except OSError as exc:
        raise DocQAError(f"cannot write {exc.filename or args.out}: {exc.strerror or exc}") from None
    finally:
        db.close()
    print(f"{report.helpful} question(s) with helpful answers -> {args.out}")
    print(f"{report.out_of_corpus} out-of-corpus candidate(s) -> {out_of_corpus} (check them before use)")
    if not config.privacy.log_questions:
        print("note: [privacy] log_questions is false, so questions asked meanwhile were not stored")
    if report.helpful:
        extra = f" --out-of-corpus {out_of_corpus}" if report.out_of_corpus else ""
        print(f"evaluate with: python -m retrieval eval --docs {config.seeds.dir} --questions {args.out}{extra}")
    return 0


if __name__ == "__main__":
    run(main)
