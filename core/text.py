"""Text utilities shared by chunking (build time) and extraction (query time).

Sentences are returned as ``(start, end)`` character spans into the original
string, so every extract can be cited and found again in its source.
"""

from __future__ import annotations

import re

# Words after which a full stop does not end a sentence.
_ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sr jr st mt ft vs etc e.g i.e cf al gen col lt sgt capt cmdr adm gov rep sen
    pres rev hon no nos vol fig figs op approx dept est inc ltd co corp bros u.s u.k u.n e.u a.m p.m
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun
    """.split()
)

# A candidate boundary: terminal punctuation (Latin, Arabic, Urdu, Devanagari, Armenian,
# Ethiopic), optional closing quotes/brackets, then space; or Chinese and Japanese full-width
# terminal punctuation, which ends a sentence with or without a space after it.
_BOUNDARY = re.compile(r"[.!?…؟۔।॥։።]+[\"'”’)\]]*(?=\s+)|(?P<cjk>[。！？]+[」』”’）)\]]*)")
_NEXT_START = re.compile(r"\s+([\"'“‘(\[]*)(\S)")


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` into sentence spans (absolute offsets, whitespace trimmed).

    A boundary is terminal punctuation followed by whitespace and an upper-case
    letter, a digit or an opening quote, unless the word before it is a known
    abbreviation or a single initial ("J. Smith", "Y. pestis").  Line breaks also
    end a sentence, so headings and list items stay separate.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for line_start, line_end in _lines(text, start, end):
        spans.extend(_split_line(text, line_start, line_end))
    return spans


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    out = []
    pos = start
    for match in re.finditer(r"\r?\n", text[start:end]):
        out.append((pos, start + match.start()))
        pos = start + match.end()
    out.append((pos, end))
    return [_trim(text, a, b) for a, b in out if text[a:b].strip()]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_line(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    sentence_start = start
    segment = text[start:end]
    for match in _BOUNDARY.finditer(segment):
        cut = start + match.end()
        if match.group("cjk"):
            if text[cut:end].strip():
                spans.append(_trim(text, sentence_start, cut))
                sentence_start = cut
            continue
        following = _NEXT_START.match(text, cut, end)
        if not following:
            continue
        first = following.group(2)
        # Scripts without letter case (Arabic, Hebrew, Devanagari, Chinese...) start a
        # sentence with any letter; cased ones with a capital, as before.
        caseless = first.isalpha() and not first.isupper() and not first.islower()
        if not (first.isupper() or first.isdigit() or following.group(1) or caseless):
            continue
        if match.group().startswith(".") and _is_abbreviation(text, sentence_start, start + match.start()):
            continue
        spans.append(_trim(text, sentence_start, cut))
        sentence_start = cut
    if text[sentence_start:end].strip():
        spans.append(_trim(text, sentence_start, end))
    return spans


def _is_abbreviation(text: str, floor: int, dot: int) -> bool:
    word_start = dot
    while word_start > floor and not text[word_start - 1].isspace() and text[word_start - 1] not in "(\"'“‘[":
        word_start -= 1
    word = text[word_start:dot]
    if not word:
        return False
    if len(word) == 1 and word.isalpha():
        return True  # an initial: "J. Smith"
    return word.lower().rstrip(".") in _ABBREVIATIONS or word.lower() in _ABBREVIATIONS


def shorten(text: str, limit: int = 80) -> str:
    """Collapse whitespace and cut ``text`` at a word boundary to at most ``limit`` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-–—") + "…"


_WORD = re.compile(r"\w+", re.UNICODE)
# Scripts written without spaces between words: Chinese, Japanese kana, Thai, Lao, Myanmar,
# Khmer.  (Korean separates words with spaces.)
UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"
_HAS_UNSPACED = re.compile(f"[{UNSPACED}]")
_MIXED_WORD = re.compile(f"[{UNSPACED}]+|[^\\W{UNSPACED}]+")


def has_unspaced(text: str) -> bool:
    """Whether ``text`` holds a character of a script written without spaces (``UNSPACED``)."""
    return bool(_HAS_UNSPACED.search(text))


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, underscore) of ``text``.

    A run of a script written without spaces (Chinese, Japanese, Thai...) becomes its
    overlapping character pairs ("黑豹队" -> "黑豹", "豹队"), the usual way to index such text
    without a dictionary; a run of one character stays one token.
    """
    text = text.lower()
    if not _HAS_UNSPACED.search(text):
        return _WORD.findall(text)
    out: list[str] = []
    for token in _MIXED_WORD.findall(text):
        if _HAS_UNSPACED.match(token) and len(token) > 2:
            out.extend(token[i : i + 2] for i in range(len(token) - 1))
        else:
            out.append(token)
    return out
