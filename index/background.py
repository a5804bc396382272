"""How common a word is in general English: a prior for the weight of question terms.

Usage::

    share = background_share("meeti")   # a term as index.lexical.terms makes it
    # -> about 0.003: the estimated share of passages of general text that contain it

A collection's own statistics say little about a word when the collection is small: in a
single news article "meeting" and "Pakistani" are both rare or both common by accident,
and a word a reader uses that the article never does ("led", "branch") looks as rare as a
name no document mentions.  General English says "led" is common (a reader may well use
it where the text says "co-chaired") and "Kuechly" is not.

The frequencies come from the WordPiece vocabulary of the packaged all-MiniLM-L6-v2
(bert-base-uncased's): after its special tokens and single characters it lists whole words
in order of frequency in Wikipedia and books, so a word's place in it is its frequency
rank.  Zipf's law turns a rank into a frequency (about 0.1 / rank), and a passage of about
100 words contains a word of that frequency with probability 1 - exp(-100 * 0.1 / rank).
Words outside the vocabulary are rarer than any in it.  No download and no new
dependency: the vocabulary ships with the model, which is verified by its sha256.
"""

from __future__ import annotations

import functools
import math

# A word outside the ~23,000 whole words of the vocabulary ranks below all of them.
UNSEEN_RANK = 50_000
# Zipf: a word of rank r makes up about 0.1 / r of running text; a passage has ~100 words.
PASSAGE_WORDS_TIMES_ZIPF = 10.0


@functools.lru_cache(maxsize=1)
def _ranks() -> dict[str, int]:
    """term -> the best frequency rank (1 = commonest) of a vocabulary word with that term."""
    from core.embedder import packaged_model_path
    from index.lexical import terms

    model = packaged_model_path()
    path = model / "vocab.txt" if model else None
    if path is None or not path.is_file():
        return {}
    ranks: dict[str, int] = {}
    rank = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.strip()
        # Whole words only: not [special] tokens, ##continuations, single characters or symbols.
        if len(word) < 2 or not word.isascii() or not word.isalnum():
            continue
        rank += 1
        for term in terms(word):
            ranks.setdefault(term, rank)
    return ranks


def background_rank(term: str) -> int:
    """Frequency rank of ``term`` in general English (1 = commonest; ``UNSEEN_RANK`` if unknown)."""
    return _ranks().get(term, UNSEEN_RANK)


def background_share(term: str) -> float:
    """Estimated share (0..1) of general-text passages that contain ``term``."""
    return 1.0 - math.exp(-PASSAGE_WORDS_TIMES_ZIPF / background_rank(term))


def known_vocabulary() -> bool:
    """Whether the background vocabulary is available (the packaged model is installed)."""
    return bool(_ranks())
