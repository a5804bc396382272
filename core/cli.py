"""Command-line plumbing shared by ``python -m index`` and ``python -m retrieval``.

Domain errors become one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, NoReturn

from core.errors import DocQAError

EXIT_ERROR = 1
EXIT_USAGE = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: ``error: ...`` (then exit 2)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(EXIT_USAGE)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "sentence_transformers", "transformers", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run(main: Callable[[], int]) -> NoReturn:
    """Run ``main`` and exit with its code; domain errors print one line and exit 1."""
    try:
        code = main()
    except DocQAError as exc:
        sys.stderr.write(f"error: {exc}\n")
        code = EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        code = 130
    except BrokenPipeError:
        code = 0
    sys.exit(code)
