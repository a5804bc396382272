"""What the question log says: counts, the questions nobody answered, the documents read, disputed answers.

Usage::

    stats = collect_stats(db, now, log_questions=True)        # db: bot.state.StateDB; blocking
    stats.periods[0].answered_share, stats.unanswered[0].count
    groups = group_questions([("When was it built?", t1), ("when was it built", t2)])

Unanswered questions are grouped by their content words: a question's key is the set
of words BM25 searches with (``index.lexical.question_terms``: no stop words, no
question words, stems of five letters), less chat filler such as "please" or "tell
me"; two questions belong together when their keys overlap by ``GROUP_SIMILARITY``
(Jaccard) or more.  So "When was the lighthouse built?", "hey bot, when was lighthouse
built" and "Who built the lighthouse?" count as one gap, and so do "Who chaired the
annual river council meeting?" and "... the river council meeting?", while "Who
chaired the 2019 meeting?" and "... 2020 meeting?" stay apart.  Sentence embeddings
(MiniLM cosine) were the other choice: at every threshold tried they merged more
different questions for fewer re-asked ones kept together, and they need the model
at hand; the measurements are in docs/quality.md ("Grouping unanswered questions").
Days are UTC days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable

from bot.state import StateDB, iso, parse_iso
from core.text import words
from index.lexical import question_terms

# Two questions are one group when their content-word sets overlap this much (Jaccard);
# chosen on the SQuAD 2.0 dev questions, checked on XQuAD (eval/grouping.py, docs/quality.md).
GROUP_SIMILARITY = 0.7
# Words that say how someone asks, not what: left out of a question's key.
CHAT_FILLER = frozenset(
    """
    me my please pls plz tell know hi hello hey thanks thank bot anyone anybody someone somebody just
    ok okay so could would you explain give find show want wanna need let us im i'm
    """.split()
)
PERIODS = (7, 30)  # days, for /stats
TOP = 10


@dataclass(frozen=True)
class Period:
    days: int
    questions: int
    answered: int
    votes: int
    helpful: int

    @property
    def answered_share(self) -> float | None:
        return self.answered / self.questions if self.questions else None

    @property
    def helpful_share(self) -> float | None:
        return self.helpful / self.votes if self.votes else None


@dataclass(frozen=True)
class QuestionGroup:
    """Near-duplicate questions counted together; ``question`` is the wording asked most (latest on ties)."""

    question: str
    count: int
    last_asked: datetime


@dataclass(frozen=True)
class CitedDocument:
    doc: str
    title: str
    answers: int


@dataclass(frozen=True)
class DisputedAnswer:
    """An answer sentence voted not helpful, over every question it answered."""

    question: str  # one of the questions it answered
    answer: str
    doc: str
    title: str
    paragraph: int
    page: int | None
    unhelpful: int
    helpful: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class DayCount:
    day: date
    answered: int
    declined: int


@dataclass(frozen=True)
class Stats:
    log_questions: bool
    periods: tuple[Period, ...]
    window: int  # days covered by the lists below and by ``daily``
    unanswered: list[QuestionGroup]
    cited: list[CitedDocument]
    disputed: list[DisputedAnswer]
    daily: list[DayCount]


# ------------------------------------------------------------------ grouping


def question_key(text: str) -> frozenset[str]:
    """The content words a question is grouped by (all its words when it has none)."""
    kept = " ".join(w for w in words(text) if w not in CHAT_FILLER)
    return frozenset(question_terms(kept)) or frozenset(words(text))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def group_questions(
    asked: Iterable[tuple[str, datetime]], threshold: float = GROUP_SIMILARITY
) -> list[QuestionGroup]:
    """Group near-duplicate questions; the groups asked most first (then the most recent).

    Identical keys are merged first; then, most asked first, each key joins the first
    group whose founding key it resembles (``threshold``), else founds one.  Comparing
    with the founder, not with every member, keeps a chain of small edits from merging
    unrelated questions.
    """
    by_key: dict[frozenset[str], dict] = {}
    for text, when in asked:
        text = " ".join(text.split())
        key = question_key(text)
        entry = by_key.setdefault(key, {"count": 0, "last": when, "wordings": {}})
        entry["count"] += 1
        entry["last"] = max(entry["last"], when)
        seen = entry["wordings"].setdefault(text.casefold().rstrip("?!. "), [0, when, text])
        seen[0] += 1
        if when >= seen[1]:
            seen[1], seen[2] = when, text
    order = sorted(by_key.items(), key=lambda item: (-item[1]["count"], -item[1]["last"].timestamp()))
    founders: list[frozenset[str]] = []
    members: list[list[dict]] = []
    by_word: dict[str, list[int]] = {}  # word -> groups whose founder has it
    for key, entry in order:
        candidates = sorted({g for word in key for g in by_word.get(word, ())})
        home = next((g for g in candidates if similarity(key, founders[g]) >= threshold), None)
        if home is None:
            home = len(founders)
            founders.append(key)
            members.append([])
            for word in key:
                by_word.setdefault(word, []).append(home)
        members[home].append(entry)
    groups = []
    for entries in members:
        wordings = [w for entry in entries for w in entry["wordings"].values()]
        count, _, text = max(wordings, key=lambda w: (w[0], w[1]))
        groups.append(
            QuestionGroup(text, sum(e["count"] for e in entries), max(e["last"] for e in entries))
        )
    groups.sort(key=lambda g: (-g.count, -g.last_asked.timestamp()))
    return groups


# ------------------------------------------------------------------ queries


def collect_stats(db: StateDB, now: datetime, *, log_questions: bool, top: int = TOP) -> Stats:
    """Everything /stats shows, over the last 7 and 30 days. Blocking."""
    window = max(PERIODS)
    since = now - timedelta(days=window)
    return Stats(
        log_questions=log_questions,
        periods=tuple(period(db, now, days) for days in PERIODS),
        window=window,
        unanswered=unanswered(db, since, top) if log_questions else [],
        cited=cited_documents(db, since, top),
        disputed=disputed_answers(db, since, top),
        daily=daily_counts(db, now, window),
    )


def period(db: StateDB, now: datetime, days: int) -> Period:
    since = iso(now - timedelta(days=days))
    asked, answered = db.run(
        "SELECT COUNT(*), COALESCE(SUM(answered), 0) FROM question_log WHERE asked_at >= ?", (since,)
    )[0]
    votes, helpful = db.run(
        "SELECT COUNT(*), COALESCE(SUM(v.helpful), 0) FROM answer_votes v "
        "JOIN question_log q ON q.id = v.question_id WHERE q.asked_at >= ?",
        (since,),
    )[0]
    return Period(days, int(asked), int(answered), int(votes), int(helpful))


def unanswered(db: StateDB, since: datetime, top: int = TOP, limit: int = 50_000) -> list[QuestionGroup]:
    """The ``top`` groups of declined questions asked since ``since`` (the latest ``limit`` rows)."""
    rows = db.run(
        "SELECT question, asked_at FROM question_log WHERE answered = 0 AND question IS NOT NULL "
        "AND asked_at >= ? ORDER BY asked_at DESC LIMIT ?",
        (iso(since), limit),
    )
    return group_questions((text, parse_iso(when)) for text, when in rows)[:top]


def cited_documents(db: StateDB, since: datetime, top: int = TOP) -> list[CitedDocument]:
    rows = db.run(
        "SELECT doc, MAX(title), COUNT(*) FROM question_log WHERE answered = 1 AND doc IS NOT NULL "
        "AND asked_at >= ? GROUP BY doc ORDER BY COUNT(*) DESC, doc LIMIT ?",
        (iso(since), top),
    )
    return [CitedDocument(doc, title or doc, int(n)) for doc, title, n in rows]


def disputed_answers(db: StateDB, since: datetime, top: int = TOP) -> list[DisputedAnswer]:
    """Answer sentences with "not helpful" votes, the most disputed first."""
    rows = db.run(
        "SELECT q.doc, q.paragraph, q.answer, MAX(q.title), MAX(q.page), MAX(q.question), "
        "SUM(1 - v.helpful) AS unhelpful, SUM(v.helpful) AS helpful "
        "FROM question_log q JOIN answer_votes v ON v.question_id = q.id "
        "WHERE q.answered = 1 AND q.answer IS NOT NULL AND q.asked_at >= ? "
        "GROUP BY q.doc, q.paragraph, q.answer HAVING SUM(1 - v.helpful) > 0 "
        "ORDER BY unhelpful DESC, helpful, q.doc, q.paragraph LIMIT ?",
        (iso(since), top),
    )
    out = []
    for doc, paragraph, answer, title, page, question, bad, good in rows:
        reasons = db.run(
            "SELECT v.reason FROM answer_votes v JOIN question_log q ON q.id = v.question_id "
            "WHERE q.doc = ? AND q.paragraph = ? AND q.answer = ? AND q.asked_at >= ? "
            "AND v.helpful = 0 AND v.reason IS NOT NULL ORDER BY v.voted_at DESC LIMIT 3",
            (doc, paragraph, answer, iso(since)),
        )
        out.append(
            DisputedAnswer(
                question or "", answer, doc, title or doc, int(paragraph), None if page is None else int(page),
                int(bad), int(good), tuple(r[0] for r in reasons),
            )
        )
    return out


def daily_counts(db: StateDB, now: datetime, days: int) -> list[DayCount]:
    """Questions answered and declined on each of the last ``days`` UTC days, today included."""
    today = now.astimezone(timezone.utc).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(0), tzinfo=timezone.utc)
    rows = db.run(
        "SELECT substr(asked_at, 1, 10), answered, COUNT(*) FROM question_log WHERE asked_at >= ? "
        "GROUP BY substr(asked_at, 1, 10), answered",
        (iso(start),),
    )
    counts: dict[tuple[str, int], int] = {(day, int(answered)): int(n) for day, answered, n in rows}
    out = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        text = day.isoformat()
        out.append(DayCount(day, counts.get((text, 1), 0), counts.get((text, 0), 0)))
    return out
