"""``python -m index build``: build or incrementally update the index.

Usage::

    python -m index build [--config PATH] [--seeds DIR] [--index-dir DIR] [-v]
"""

from __future__ import annotations

from pathlib import Path

from core.cli import ArgumentParser, run, setup_logging
from core.config import load_config
from core.embedder import load_embedder
from index.build import BuildReport, build_index


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m index", description="Build the passage index from the seeds folder.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    build = commands.add_parser("build", help="build or incrementally update the index")
    build.add_argument("--config", type=Path, default=Path("config.toml"), help="config file (default: config.toml)")
    build.add_argument("--seeds", type=Path, help="seeds folder (default: [seeds] dir)")
    build.add_argument("--index-dir", type=Path, help="index folder (default: [index] dir)")
    build.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    args = parser.parse_args(argv)

    setup_logging(args.verbose)
    config = load_config(args.config)
    embedder = load_embedder(config.index.model)
    report = build_index(config, embedder, seeds_dir=args.seeds, index_dir=args.index_dir)
    print(format_report(report))
    return 0


def format_report(report: BuildReport) -> str:
    lines = [
        f"documents: {report.documents} ({len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.removed)} removed, {len(report.skipped)} skipped)",
        f"passages: {report.passages}",
        f"passages re-embedded: {report.embedded}",
        *([f"texts embedded by the multilingual model: {report.multilingual_embedded}"] if report.multilingual_embedded else []),
        f"seconds: {report.seconds:.2f}",
    ]
    if report.embedded:
        lines.append(f"passages/s: {report.passages_per_second:.1f}")
    lines.append(f"index: {report.index_type}, version {report.version}")
    for skipped in report.skipped:
        lines.append(f"skipped: {skipped.path}: {skipped.reason}")
    return "\n".join(lines)


if __name__ == "__main__":
    run(main)
