"""Turn the question log into evaluation sets: ``python -m bot export --out FILE.jsonl``.

Usage::

    report = export_eval_set(db, Path("real.jsonl"), Path("real.out-of-corpus.jsonl"))
    # then: python -m retrieval eval --docs seeds --questions real.jsonl --out-of-corpus real.out-of-corpus.jsonl

Two JSON-lines files in the shape ``retrieval.evaluate.read_questions`` reads:

- questions whose answer readers voted helpful (more helpful than not helpful votes),
  with that answer sentence as the gold answer: a regression test that the bot still
  picks it (S@1).  A question answered helpfully by different sentences (the documents
  changed) lists each of them; any one counts.
- questions the bot declined at least ``min_declines`` times (near-duplicates counted
  together, as in /stats) and never answered helpfully: out-of-corpus *candidates*.
  Check them before use: a question declined by mistake belongs in the first file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from bot.state import StateDB, parse_iso
from bot.stats import GROUP_SIMILARITY, group_questions, question_key, similarity

MIN_DECLINES = 2


@dataclass(frozen=True)
class ExportReport:
    helpful: int  # questions written with a gold answer
    out_of_corpus: int  # out-of-corpus candidates written


def helpful_questions(db: StateDB) -> list[dict]:
    """Questions with answers voted helpful on balance, one row per question wording, oldest first."""
    rows = db.run(
        "SELECT q.id, q.question, q.answer, q.doc, q.paragraph, SUM(v.helpful), SUM(1 - v.helpful) "
        "FROM question_log q JOIN answer_votes v ON v.question_id = q.id "
        "WHERE q.answered = 1 AND q.question IS NOT NULL AND q.answer IS NOT NULL "
        "GROUP BY q.id, q.question, q.answer, q.doc, q.paragraph ORDER BY q.id"
    )
    # The same question asked again with the same answer: votes add up.
    tally: dict[tuple[str, str], dict] = {}
    for answer_id, question, answer, doc, paragraph, good, bad in rows:
        wording = " ".join(question.casefold().rstrip("?!. ").split())
        entry = tally.setdefault(
            (wording, answer),
            {"id": f"bot-{answer_id}", "question": question, "answer": answer, "doc": doc, "paragraph": paragraph,
             "helpful": 0, "not_helpful": 0},
        )
        entry["helpful"] += int(good)
        entry["not_helpful"] += int(bad)
    by_question: dict[str, dict] = {}
    for (wording, _), entry in tally.items():
        if entry["helpful"] <= entry["not_helpful"]:
            continue
        row = by_question.setdefault(
            wording,
            {"id": entry["id"], "question": entry["question"], "answers": [], "doc": entry["doc"],
             "paragraph": entry["paragraph"], "helpful": 0, "not_helpful": 0},
        )
        row["answers"].append(entry["answer"])
        row["helpful"] += entry["helpful"]
        row["not_helpful"] += entry["not_helpful"]
    return list(by_question.values())


def declined_questions(db: StateDB, helpful: list[dict], min_declines: int = MIN_DECLINES) -> list[dict]:
    """Groups of declined questions asked ``min_declines`` times or more, none like a helpful one."""
    rows = db.run(
        "SELECT question, asked_at FROM question_log WHERE answered = 0 AND question IS NOT NULL ORDER BY id"
    )
    answered = [question_key(row["question"]) for row in helpful]
    out = []
    for n, group in enumerate(group_questions((text, parse_iso(when)) for text, when in rows), 1):
        key = question_key(group.question)
        if group.count < min_declines or any(similarity(key, other) >= GROUP_SIMILARITY for other in answered):
            continue
        out.append(
            {"id": f"bot-declined-{n}", "question": group.question, "answers": [], "declined": group.count,
             "last_asked": group.last_asked.date().isoformat()}
        )
    return out


def export_eval_set(db: StateDB, out: Path, out_of_corpus: Path, min_declines: int = MIN_DECLINES) -> ExportReport:
    """Write both files (each replaced whole, never half-written); returns how many questions each got."""
    helpful = helpful_questions(db)
    declined = declined_questions(db, helpful, min_declines)
    _write_jsonl(out, helpful)
    _write_jsonl(out_of_corpus, declined)
    return ExportReport(len(helpful), len(declined))


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(partial, path)


def default_out_of_corpus(out: Path) -> Path:
    """``real.jsonl`` -> ``real.out-of-corpus.jsonl``."""
    return out.with_name(f"{out.stem}.out-of-corpus{out.suffix or '.jsonl'}")
