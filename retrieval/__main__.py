"""``python -m retrieval ask`` and ``eval``: answer questions, measure answer quality.

Usage::

    python -m retrieval ask "Who co-chaired the dialogue?"
    python -m retrieval ask --json < questions.txt      # one JSON object per line
    python -m retrieval ask                              # interactive prompt on a terminal
    printf 'Who co-chaired the dialogue?\nAnd when was it held?\n' | python -m retrieval ask --follow-up
    python -m retrieval eval --docs eval/xquad_en/docs --questions eval/xquad_en/questions.jsonl
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from core.cli import ArgumentParser, run, setup_logging
from core.config import load_config
from core.embedder import load_embedder, onnx_cache_dir
from retrieval.index_store import open_index
from retrieval.retriever import MODES, Answer, Retriever


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m retrieval", description="Answer questions from the built index.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ask = commands.add_parser("ask", help="answer a question (or one per line from stdin)")
    ask.add_argument("--config", type=Path, default=Path("config.toml"), help="config file (default: config.toml)")
    ask.add_argument("--index-dir", type=Path, help="index folder (default: [index] dir)")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")
    ask.add_argument(
        "--follow-up", action="store_true", help="read each question as a possible follow-up to the line before (as the bot does in a chat)"
    )
    ask.add_argument("-v", "--verbose", action="store_true", help="log details")
    ask.add_argument("question", nargs="*", help="the question; omit to read one per line from stdin")
    ev = commands.add_parser("eval", help="measure answer quality on a question set (builds a temporary index)")
    ev.add_argument("--config", type=Path, default=Path("config.toml"), help="config file (default: config.toml)")
    ev.add_argument("--docs", type=Path, required=True, help="folder of documents to index")
    ev.add_argument(
        "--questions", type=Path, required=True, action="append",
        help='JSON lines {"question", "answers": [...]}; repeat for several files (figures per language then)',
    )
    ev.add_argument(
        "--out-of-corpus", type=Path, action="append", default=[],
        help="questions the documents do not answer (should be declined); may repeat",
    )
    ev.add_argument("--limit", type=int, help="ask only the first N questions of each file (quick checks)")
    ev.add_argument("--modes", default="hybrid,bm25,dense", help="comma-separated modes to score (default: all three)")
    ev.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ev.add_argument("-v", "--verbose", action="store_true", help="log details")
    args = parser.parse_args(argv)
    if args.command == "ask" and args.follow_up and args.question:
        parser.error("--follow-up reads the questions from stdin, one per line; give no QUESTION")

    setup_logging(args.verbose)
    config = load_config(args.config)
    if args.command == "eval":
        return run_eval(args, config)
    # Open the index first: a missing or mismatched index fails fast, before the model loads.
    index_dir = args.index_dir or config.index.dir
    index = open_index(config, config.index.model, index_dir)
    embedder = load_embedder(config.index.model, backend=config.index.backend, onnx_cache=onnx_cache_dir(index_dir))
    from retrieval.crosslingual import open_crosslingual

    retriever = Retriever(index, embedder, config.retrieval, multilingual=open_crosslingual(index, config))
    follow_up = args.follow_up
    show = (lambda a: print_json(a, follow_up)) if args.json else print_text
    if args.question:
        show(retriever.answer(" ".join(args.question)))
        return 0
    interactive = sys.stdin.isatty() and not args.json
    if interactive:
        print(f"Ask about {len(retriever.documents)} document(s); an empty line or Ctrl-D quits.")
    previous = None  # with --follow-up: the turn of the line before
    while True:
        if interactive:
            try:
                line = input("\n? ")
            except EOFError:
                print()
                break
            if not line.strip():
                break
        else:
            line = sys.stdin.readline()
            if not line:
                break
            if not line.strip():
                continue
        answer = retriever.answer(line.strip(), context=previous)
        if follow_up:
            previous = answer.turn
        show(answer)
        sys.stdout.flush()
    return 0


def run_eval(args, config) -> int:
    from retrieval.evaluate import EvalError, evaluate, format_language_table, format_table, read_question_files, to_json

    if not args.docs.is_dir():
        raise EvalError(f"documents folder {args.docs} does not exist")
    questions = read_question_files(args.questions, args.limit)
    out_of_corpus = read_question_files(args.out_of_corpus, args.limit)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise EvalError(f"--modes must list some of {', '.join(MODES)}. Currently, --modes is {args.modes!r}")
    multilingual = None
    if config.index.multilingual_model:
        from core.multilingual import load_multilingual

        multilingual = load_multilingual(config.index.multilingual_model, threads=os.cpu_count())  # batches
    by_language = len({q.language for q in questions + out_of_corpus}) > 1
    reports = evaluate(
        config, load_embedder(config.index.model), args.docs, questions, out_of_corpus, modes,
        multilingual=multilingual, by_language=by_language,
    )
    if args.json:
        files = [str(p) for p in args.questions]
        context = {"docs": str(args.docs), "questions": files[0] if len(files) == 1 else files, "asked": len(questions)}
        if args.out_of_corpus:
            files = [str(p) for p in args.out_of_corpus]
            context.update(out_of_corpus=files[0] if len(files) == 1 else files, out_of_corpus_asked=len(out_of_corpus))
        print(json.dumps(to_json(reports, **context), indent=2))
    else:
        print(f"{args.docs}: {len(questions)} questions" + (f", {len(out_of_corpus)} out of corpus" if out_of_corpus else ""))
        print(format_table(reports))
        if by_language:
            print()
            print(format_language_table(reports))
    return 0


def print_json(answer: Answer, follow_up: bool = False) -> None:
    data = answer.to_json()
    if follow_up:  # the question it was read as a follow-up to, or null
        data["follow_up_to"] = answer.context.question if answer.context else None
    print(json.dumps(data, ensure_ascii=False))


def print_text(answer: Answer) -> None:
    print(format_text(answer))


def format_text(answer: Answer) -> str:
    """Plain-text rendering: the answer, then numbered citations with their extracts."""
    # One number, on one scale: the abstention model's confidence (0..1) that the best
    # sentence answers.  Per-extract ranking scores mix cosine and word coverage and mean
    # nothing to a reader, so they stay in --json only.
    # How sure, in words (retrieval.confidence): nothing for a confident answer, a caution for a
    # tentative one, "Not answered" for a decline.
    lines = []
    label = answer.confidence_label
    if answer.context is not None:
        lines.append(f"(Taking this as a follow-up to: {answer.context.question})")
    if answer.answered:
        lines.append(f"Answer: {answer.answer}")
        lines.append(
            f"        ({answer.sentence.title}, {answer.sentence.location}; confidence {answer.confidence:.2f})"
        )
        if label:
            lines.append(f"        {label}")
    else:
        lines.append(f"{label.rstrip('.')} (confidence {answer.confidence:.2f}).")
        if answer.extracts:
            lines.append("Closest passages:")
    for n, extract in enumerate(answer.extracts, 1):
        lines.append(f"[{n}] {extract.title}, {extract.location}" + (f" <{extract.source}>" if extract.source else ""))
        lines.append("    " + " ".join(extract.text.split()))
    return "\n".join(lines)


if __name__ == "__main__":
    run(main)
