"""The bot's own words in the reader's language: gettext catalogs read with Babel.

Usage::

    catalogs = Catalogs.load()                          # every bot/locale/<lang>/LC_MESSAGES/bot.po, once
    tr = catalogs.translator(catalogs.negotiate("es-419"))   # Spanish; "pt-BR" (no catalog) -> English
    tr.gettext("<b>Answer:</b> {sentence}", sentence=esc(text))
    tr.ngettext("{count} document", "{count} documents", n, count=n)
    tr.percent(0.86), tr.decimal(2.345), tr.day(date(2026, 11, 5))   # "86 %", "2,3", "5 нояб." in Russian

    python -m bot.i18n                                   # check every catalog; exit 1 on a problem

The English texts in the code are the message ids, so English needs no catalog.  A
catalog is one ``.po`` file, compiled in memory when the bot starts (no ``.mo`` files
to keep in step), so adding a language is adding a file: README, "Languages".

Values go in with ``str.format`` after translation, as given: callers escape document
and user text (``render.esc``) first, as everywhere else.  A translation whose
``{placeholders}``, HTML tags or /commands differ from its English original is not
used (the English text is, and loading logs why), so a slip in a catalog can never
break a reply or lose a value; the test suite holds the shipped catalogs to zero
such problems.
"""

from __future__ import annotations

import gettext
import io
import logging
import re
import string
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date
from enum import Enum
from pathlib import Path

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "bot"
SOURCE = "en"  # the language of the message ids

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
# A command such as /ask or /reindex in running text (not the "/" of "</b>", "1/3" or a URL).
_COMMAND = re.compile(r"(?<![\w/<:}])/[a-z][a-z_]*\b")


class Translator:
    """The bot's texts in one language, and numbers and dates written as that language writes them."""

    def __init__(self, language: str = SOURCE, translations: gettext.NullTranslations | None = None):
        self.language = language
        self._translations = translations or gettext.NullTranslations()

    def __repr__(self) -> str:
        return f"Translator({self.language!r})"

    def gettext(self, message: str, /, **values: object) -> str:
        return _fill(self._translations.gettext(message), values)

    def ngettext(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        """The form of ``singular``/``plural`` this language uses for ``n`` (Russian has three)."""
        return _fill(self._translations.ngettext(singular, plural, n), values)

    def pgettext(self, context: str, message: str, /, **values: object) -> str:
        """``message`` where the same English words need telling apart (``context`` says which)."""
        return _fill(self._translations.pgettext(context, message), values)

    def decimal(self, number: float, digits: int = 1) -> str:
        from babel.numbers import format_decimal

        return format_decimal(number, format="#,##0." + "0" * digits if digits else "#,##0", locale=self.language)

    def percent(self, share: float) -> str:
        from babel.numbers import format_percent

        return format_percent(share, locale=self.language)

    def day(self, day: date) -> str:
        """A short day and month: "Nov 5" in English, "5 нояб." in Russian."""
        from babel.dates import format_skeleton

        return format_skeleton("MMMd", day, locale=self.language)


ENGLISH = Translator()


def _fill(text: str, values: dict[str, object]) -> str:
    return text.format(**values) if values else text


# ------------------------------------------------------------------ checks


def placeholders(text: str) -> Counter:
    """The ``{name}`` fields of ``text`` (with any format spec), counted; ValueError on a stray brace."""
    return Counter(
        (name, spec or "", conversion or "")
        for _, name, spec, conversion in string.Formatter().parse(text)
        if name is not None
    )


def tags(text: str) -> Counter:
    return Counter(f"<{close}{name.lower()}{attrs}>" for close, name, attrs in _TAG.findall(text))


def commands(text: str) -> set[str]:
    return set(_COMMAND.findall(text))


def _markup_problem(text: str) -> str | None:
    """Why ``text`` would not be Telegram HTML (tags unbalanced, a bare < > or &), else None."""
    stack: list[str] = []
    for close, name, _ in _TAG.findall(text):
        name = name.lower()
        if not close:
            stack.append(name)
        elif not stack or stack.pop() != name:
            return f"</{name}> does not close the last open tag"
    if stack:
        return f"<{stack[-1]}> is not closed"
    bare = _ENTITY.sub("", _TAG.sub("", text))
    for char in "<>&":
        if char in bare:
            return f"a bare {char!r} (write &lt; &gt; &amp;)"
    return None


def check_message(msgid: str | tuple[str, ...], msgstr: str | tuple[str, ...]) -> list[str]:
    """What is wrong with a translation: placeholders, HTML tags or /commands that differ from the English.

    ``msgid`` and ``msgstr`` are strings, or tuples for a plural message (each form of
    ``msgstr`` may leave out the counted value, as "one document" may, but may not add one).
    """
    ids = (msgid,) if isinstance(msgid, str) else tuple(msgid)
    forms = (msgstr,) if isinstance(msgstr, str) else tuple(msgstr)
    problems = []
    try:
        wanted = [placeholders(text) for text in ids]
    except ValueError as exc:
        return [f"the English text has a bad placeholder: {exc}"]
    known = set().union(*wanted)
    for i, form in enumerate(forms):
        where = "" if len(forms) == 1 else f"form {i}: "
        try:
            got = placeholders(form)
        except ValueError as exc:
            problems.append(f"{where}bad placeholder: {exc}")
            continue
        if len(ids) == 1 and got != wanted[0]:
            problems.append(f"{where}placeholders {sorted(n for n, _, _ in got)} instead of {sorted(n for n, _, _ in wanted[0])}")
        elif len(ids) > 1 and not set(got) <= known:
            problems.append(f"{where}unknown placeholders {sorted(n for n, _, _ in set(got) - known)}")
        if tags(form) != tags(ids[-1]):
            problems.append(f"{where}HTML tags {sorted(tags(form).elements())} instead of {sorted(tags(ids[-1]).elements())}")
        elif (why := _markup_problem(form)) is not None:
            problems.append(f"{where}{why}")
        if commands(form) != commands(ids[-1]):
            problems.append(f"{where}commands {sorted(commands(form))} instead of {sorted(commands(ids[-1]))}")
    if len(ids) > 1:
        used = set().union(*(placeholders(f) for f in forms if _parses(f)))
        missing = set(wanted[-1]) - used
        if missing:
            problems.append(f"no form uses {sorted(n for n, _, _ in missing)}")
    return problems


def _parses(text: str) -> bool:
    try:
        placeholders(text)
    except ValueError:
        return False
    return True


def _translated(string_or_forms: str | tuple[str, ...]) -> bool:
    forms = (string_or_forms,) if isinstance(string_or_forms, str) else string_or_forms
    return all(forms)


# ------------------------------------------------------------------ catalogs


class CatalogReport:
    """What loading one catalog found: messages kept, left in English (and why)."""

    def __init__(self, language: str, path: Path):
        self.language = language
        self.path = path
        self.translated = 0
        self.untranslated: list[str] = []
        self.fuzzy: list[str] = []
        self.problems: list[str] = []  # "msgid: why", each one left in English

    @property
    def complete(self) -> bool:
        return not (self.untranslated or self.fuzzy or self.problems)


def compile_catalog(path: Path, language: str) -> tuple[gettext.GNUTranslations, CatalogReport]:
    """Read the ``.po`` file at ``path`` and compile the translations that pass ``check_message``.

    Raises:
        ValueError: the file is not a readable ``.po`` catalog.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    report = CatalogReport(language, path)
    with path.open("rb") as fileobj:
        catalog = read_po(fileobj, locale=language, domain=DOMAIN, abort_invalid=True)
    for message in list(catalog):
        if not message.id:
            continue  # the header
        shown = message.id if isinstance(message.id, str) else message.id[0]
        if not _translated(message.string):
            report.untranslated.append(shown)
        elif message.fuzzy:
            report.fuzzy.append(shown)
        else:
            problems = check_message(message.id, message.string) + _plural_problems(catalog, message)
            if not problems:
                report.translated += 1
                continue
            report.problems.extend(f"{shown!r}: {why}" for why in problems)
        catalog.delete(message.id, context=message.context)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer), report


def _plural_problems(catalog, message) -> list[str]:
    if not message.pluralizable:
        return []
    if len(message.string) != catalog.num_plurals:
        return [f"{len(message.string)} plural forms, but the catalog's Plural-Forms says {catalog.num_plurals}"]
    return []


def normalize(code: str) -> str:
    """A language tag as catalog directories name it: "pt-br" -> "pt_BR", "RU" -> "ru"."""
    parts = code.strip().replace("-", "_").split("_")
    head = parts[0].lower()
    return head if len(parts) == 1 or not parts[1] else f"{head}_{parts[1].upper() if len(parts[1]) == 2 else parts[1]}"


class Catalogs:
    """Every language the bot speaks: English, and one translator per catalog in the locale folder."""

    def __init__(self, translators: dict[str, Translator], reports: list[CatalogReport] | None = None):
        self._translators = {SOURCE: ENGLISH, **translators}
        self.reports = reports or []

    @classmethod
    def load(cls, directory: Path = LOCALE_DIR) -> "Catalogs":
        """Compile ``<directory>/<lang>/LC_MESSAGES/bot.po`` for every language there; problems are logged."""
        translators: dict[str, Translator] = {}
        reports = []
        for path in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            language = path.parent.parent.name
            try:
                translations, report = compile_catalog(path, language)
            except Exception as exc:  # noqa: BLE001  (one unreadable file must not stop the bot: English stands in)
                log.error("catalog %s not loaded: %s", path, exc)
                continue
            reports.append(report)
            for problem in report.problems:
                log.warning("catalog %s: left in English: %s", language, problem)
            if report.untranslated or report.fuzzy:
                log.info(
                    "catalog %s: %d message(s) not translated yet, %d fuzzy (shown in English)",
                    language, len(report.untranslated), len(report.fuzzy),
                )
            translators[language] = Translator(language, translations)
        return cls(translators, reports)

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages with texts: English first, then the catalogs by code."""
        return (SOURCE,) + tuple(sorted(lang for lang in self._translators if lang != SOURCE))

    def __contains__(self, language: str) -> bool:
        return language in self._translators

    def negotiate(self, code: str | None) -> str | None:
        """The catalog nearest a Telegram ``language_code`` ("es-419" -> "es"), or None if there is none."""
        if not code or not code.strip():
            return None
        wanted = normalize(code)
        if wanted in self._translators:
            return wanted
        head = wanted.split("_")[0]
        if head in self._translators:
            return head
        variants = sorted(lang for lang in self._translators if lang.split("_")[0] == head)
        return variants[0] if variants else None

    def translator(self, language: str | None) -> Translator:
        """The translator for ``language`` (a catalog's code); English for None or a language without one."""
        return self._translators.get(language or SOURCE, ENGLISH)

    def name(self, language: str) -> str:
        """The language's own name for itself: "English", "Русский", "Español"."""
        from babel import Locale, UnknownLocaleError

        try:
            own = Locale.parse(language).get_display_name(language) or language
        except (UnknownLocaleError, ValueError):
            return language
        return own[:1].upper() + own[1:]


# ------------------------------------------------------------------ the language of a reply

AUTO = "auto"


class Reason(Enum):
    """Why a chat gets the language it gets (``/language`` says so)."""

    CHOSEN = "chosen"  # /language in this chat
    GROUP = "group"  # [bot] group_language
    USER = "user"  # the user's language_code has a catalog
    FALLBACK = "fallback"  # it has none (or Telegram sent none): English


@dataclass(frozen=True)
class Choice:
    language: str
    reason: Reason


def choose_language(
    catalogs: Catalogs, *, chosen: str | None, private: bool, user_code: str | None, group_language: str
) -> Choice:
    """The catalog a reply uses, and why (the rule is spelled out in ``bot.languages``); always one ``catalogs`` has."""
    if chosen and chosen in catalogs:
        return Choice(chosen, Reason.CHOSEN)
    if not private and group_language != AUTO and group_language in catalogs:
        return Choice(group_language, Reason.GROUP)
    nearest = catalogs.negotiate(user_code)
    return Choice(nearest, Reason.USER) if nearest else Choice(SOURCE, Reason.FALLBACK)


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.i18n [DIR]``: report every catalog's gaps and problems; 1 if any."""
    argv = sys.argv[1:] if argv is None else argv
    directory = Path(argv[0]) if argv else LOCALE_DIR
    catalogs = Catalogs.load(directory)
    bad = 0
    for report in catalogs.reports:
        print(f"{report.language}: {report.translated} translated, {len(report.untranslated)} untranslated, "
              f"{len(report.fuzzy)} fuzzy, {len(report.problems)} with problems ({report.path})")
        for shown in report.untranslated:
            print(f"  untranslated: {shown!r}")
        for shown in report.fuzzy:
            print(f"  fuzzy (check, then remove the fuzzy flag): {shown!r}")
        for problem in report.problems:
            print(f"  problem: {problem}")
        bad += not report.complete
    if not catalogs.reports:
        print(f"no catalogs under {directory}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
