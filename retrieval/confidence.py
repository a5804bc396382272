"""How sure the bot is, in words a reader understands: one mapping for every front end.

Usage::

    level = confidence_level(answer.confidence, answered=answer.answered, high=settings.high_confidence)
    label = confidence_label(level)   # None when the answer needs no caution

The abstention model gives a 0..1 confidence; a reader needs to know whether to trust the
answer.  Three levels, decided here once and rendered by the bot (``bot.render``), the
terminal and ``--json`` (``retrieval.__main__``) alike:

- ``confident``: answered with confidence at or above ``[retrieval] high_confidence``; no label.
- ``tentative``: answered, but below that: the best match, possibly not an answer.
- ``declined``: below ``[retrieval] min_confidence``: not answered; the closest passages only.
"""

from __future__ import annotations

CONFIDENT = "confident"
TENTATIVE = "tentative"
DECLINED = "declined"
LEVELS = (CONFIDENT, TENTATIVE, DECLINED)

_LABELS = {
    CONFIDENT: None,
    TENTATIVE: "Possibly not an answer: the closest match found; check it against the passages.",
    DECLINED: "Not answered: nothing in the documents answers this closely enough.",
}


def confidence_level(confidence: float, *, answered: bool, high: float) -> str:
    """``confident``, ``tentative`` or ``declined`` for an answer with this ``confidence``."""
    if not answered:
        return DECLINED
    return CONFIDENT if confidence >= high else TENTATIVE


def confidence_label(level: str) -> str | None:
    """What a reader is told about an answer of this level (None: nothing, the answer stands)."""
    return _LABELS[level]
