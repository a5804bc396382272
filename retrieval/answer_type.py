"""What kind of answer a question asks for, and how specifically a sentence holds one.

Usage::

    kind = answer_type("When was the dialogue held?")          # "date"
    answer_cue("... on May 10 in Washington DC.", kind, set(words(question)))   # 1.0
    answer_cue("... in Washington last week ...", kind, set(words(question)))   # 0.5

Kinds: "number" (how many, how much, what percentage), "date" (when, what year),
"name" (who, whom, whose), "place" (where, which city or country).  The cue is 1 for a
sentence holding a specific answer of that kind that the question does not already
contain, 0.5 for a vague one (a weekday or "last week" for "when": news dates events
relative to the day of writing, and an explicit "May 10" answers better), else 0.
"""

from __future__ import annotations

import re

from core.text import words

NUMBER, DATE, NAME, PLACE = "number", "date", "name", "place"
KINDS = (NUMBER, DATE, NAME, PLACE)
VAGUE = 0.5  # the cue of a relative date

_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fifteen twenty thirty forty fifty "
    "hundred hundreds thousand thousands million millions billion billions half dozen"
).split()
_MONTHS = "january february march april may june july august september october november december".split()
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_NUMBER = re.compile(r"\d[\d,.]*|\b(?:" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
# A year, a capitalised month ("May 10", not "may"), a century or a decade.
_EXPLICIT_DATE = re.compile(
    r"\b(?:1\d{3}|20\d{2}|\d{1,2}(?:st|nd|rd|th) [Cc]entury|" + "|".join(m.capitalize() for m in _MONTHS) + r")\b|\b\d{2,4}s\b"
)
# News dates its events by weekday and relative to the day of writing as often as by the calendar.
_RELATIVE_DATE = re.compile(
    r"\b(?:" + "|".join(_WEEKDAYS) + r"|yesterday|today|tonight|(?:last|next|this) (?:week|month|year|weekend)"
    r"|\w+ (?:days|weeks|months|years) ago)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<=\S )[A-Z][\w'’-]+")
# A capitalised word after a preposition of place: "in Washington", "from the Rhine".
_PLACE = re.compile(r"\b(?:in|at|from|near|to|into|across|outside|inside|throughout|of)\s+(?:the\s+)?([A-Z][\w'’-]+)")
_PLACE_NOUNS = (
    "city|cities|country|countries|town|place|state|region|area|county|continent|river|location|province|village|nation|island"
)


def answer_type(question: str) -> str | None:
    """The kind of answer a question asks for: "number", "date", "name", "place" or None."""
    q = words(question)
    text = " ".join(q)
    if re.search(r"\bhow (many|much|long|far|old|big|large|tall|high|often|fast)\b|\bwhat (percentage|percent|number|amount)\b", text):
        return NUMBER
    if "when" in q or re.search(r"\b(what|which) (year|years|century|decade|date|month|day|time period)\b", text):
        return DATE
    if re.search(r"\b(who|whom|whose)\b", text):
        return NAME
    if "where" in q or re.search(rf"\b(what|which|in what|in which) ({_PLACE_NOUNS})\b", text):
        return PLACE
    return None


def answer_cue(sentence: str, kind: str | None, question_words: set[str]) -> float:
    """1.0 when ``sentence`` holds a specific ``kind`` the question lacks, 0.5 for a vague date, else 0."""
    if kind == DATE:
        if any(m.group().lower() not in question_words for m in _EXPLICIT_DATE.finditer(sentence)):
            return 1.0
        return VAGUE if _RELATIVE_DATE.search(sentence) else 0.0
    if kind == NUMBER:
        return 1.0 if _NUMBER.search(sentence) else 0.0
    if kind == NAME:
        return 1.0 if any(m.group().lower() not in question_words for m in _NAME.finditer(sentence)) else 0.0
    if kind == PLACE:
        return 1.0 if any(m.group(1).lower() not in question_words for m in _PLACE.finditer(sentence)) else 0.0
    return 0.0


def has_answer_type(sentence: str, kind: str, question_words: set[str]) -> bool:
    """Whether ``sentence`` holds a ``kind`` the question does not already contain (a vague date counts)."""
    return answer_cue(sentence, kind, question_words) > 0.0
