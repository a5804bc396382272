"""Which language a text is in: py3langid (97 languages, its model ships in the wheel).

Usage::

    languages = LanguageIdentifier()          # loads the model on first use (~0.3 s)
    languages.detect("Сколько очков уступила защита?")   # "ru"
    languages.is_english("Who founded the company?")     # True

Questions are routed by it (``retrieval.crosslingual``): an English question over
English documents takes the English path (all-MiniLM-L6-v2) unchanged, anything
else the multilingual encoder.  A question counts as English when the identifier
gives English at least ``ENGLISH_SHARE`` of its probability even if another
language wins: short English questions full of names ("What is malum in se?")
are often put in a neighbouring language, and sending them to the multilingual
path costs little, but sending a real German question to the English model costs
a lot.  On the dev questions 7 of 2,597 English questions fell under the share
and no Spanish, German or Vietnamese one reached it (the highest, German, 0.19).
Documents are identified the same way, from their first few thousand characters.
"""

from __future__ import annotations

import threading

ENGLISH_SHARE = 0.2
# A question in a conversation keeps the language of the question before it unless the
# identifier finds another this many times likelier: "Why?" is Nigerian Pidgin 0.066,
# English 0.066 to it, "And in Tibetan Buddhism?" Javanese 0.13, English 0.07.
PREVIOUS_ODDS = 3.0
DOCUMENT_SAMPLE = 4000  # characters of a document its language is judged on
# The identifier's regional labels that are the same written language as far as
# retrieval is concerned (Wu and Cantonese questions are written in Chinese characters).
_ALIASES = {"wuu": "zh", "yue": "zh", "nb": "no", "nn": "no"}


class LanguageIdentifier:
    """ISO 639-1 language of a text.  Safe to call from several threads."""

    def __init__(self) -> None:
        self._model = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model now (about 1.5 s) rather than on the first question."""
        self._identifier()

    def _identifier(self):
        with self._lock:
            if self._model is None:
                from py3langid.langid import MODEL_FILE
                from py3langid.langid import LanguageIdentifier as Model

                self._model = Model.from_model_file(MODEL_FILE, norm_probs=True)
            return self._model

    def ranking(self, text: str) -> list[tuple[str, float]]:
        """Languages with their probabilities, most likely first."""
        merged: dict[str, float] = {}
        for lang, p in self._identifier().rank(text):
            lang = _ALIASES.get(lang, lang)
            merged[lang] = merged.get(lang, 0.0) + p
        return sorted(merged.items(), key=lambda pair: -pair[1])

    def detect(self, text: str, prefer: frozenset[str] | set[str] = frozenset({"en"}), previous: str = "") -> str:
        """The most likely language of ``text`` ("en", "ru", "zh", ...).

        A language in ``prefer`` (the documents' languages; English by default) wins when the
        identifier gives it at least ``ENGLISH_SHARE``: short questions are often put in a
        neighbouring language ("Где прошла игра Супербоул 50?": Serbian 0.35, Russian 0.32).
        Then ``previous``, the language of the question before in the conversation, wins
        unless the likeliest language is ``PREVIOUS_ODDS`` times likelier: a reader does not
        switch language for "Why?".
        """
        ranking = self.ranking(text)
        if not ranking:
            return previous or "en"
        for lang, share in ranking:  # most likely first
            if lang in prefer and share >= ENGLISH_SHARE:
                return lang
        if previous and dict(ranking).get(previous, 0.0) * PREVIOUS_ODDS >= ranking[0][1]:
            return previous
        return ranking[0][0]

    def is_english(self, text: str) -> bool:
        return self.detect(text) == "en"

    def document_language(self, text: str) -> str:
        """The language of a document, judged on its opening ``DOCUMENT_SAMPLE`` characters."""
        return self.detect(text[:DOCUMENT_SAMPLE])
