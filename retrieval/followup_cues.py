"""How a question leans on the one before it, per language: pronouns, openers, articles.

Usage::

    cues = cues_for("ru")
    cues.refers_back("Когда она прошла?")      # True: "она" points outside the question
    cues.elliptical("А к 2000 году?")          # True: opens with "а"
    cues.own_terms(question_terms(question))   # topic terms, without the language's question words

``retrieval.followup`` reads a question asked after another one with these cues.  The
index's stop words are English, so for another language the question words, pronouns
and little words ("когда", "она", "было") would count as topic terms of the question
and make every follow-up look like a question of its own; ``function`` lists them.
A language without a table (``cues_for`` returns ``NO_CUES``) has no pronouns or
openers to go on: its questions are read as follow-ups only when they are fragments of
at most ``SHORT_WORDS`` words, or have a single topic word and find little alone
(``FollowUpSettings.bare_terms``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.text import words
from index.lexical import terms

# A question this short (in words) is elliptical whatever it says: "Why?", "In what year?".
SHORT_WORDS = 3
# Opening punctuation that is not part of the first word: Spanish "¿Y cuándo?".
_LEADING = re.compile(r"^[\s¿¡\"'«“„(\[-]+")


@dataclass(frozen=True)
class Cues:
    """One language's cues: words that point back, openings of a fragment, articles, question words."""

    referring: frozenset[str] = frozenset()
    openers: tuple[str, ...] = ()
    articles: frozenset[str] = frozenset()
    function: frozenset[str] = frozenset()  # not topic terms (compared as index terms)
    unspaced: bool = False  # Chinese, Japanese: cues are found as substrings, not words
    # Unspaced scripts are indexed as character pairs: a pair with one of these characters
    # (question words, pronouns, particles) is not a topic term.
    function_chars: str = ""
    # The language drops subject pronouns ("¿Cuántos Grammy ha ganado?" for "How many has she
    # won?"): a question with few topic words may lean on the one before without a pronoun.
    pro_drop: bool = False
    # A question of at most this many words is a fragment whatever it says ("Why?", "In what
    # year?"); a language without articles or auxiliaries says a whole question in fewer.
    short_words: int = SHORT_WORDS
    # Words that point back only in some positions: Spanish "lo" ("¿Quién lo tradujo?"), but
    # not in "lo que" (these pairs are skipped).
    referring_unless_followed: tuple[str, ...] = ()
    not_followed_by: frozenset[str] = frozenset()
    # A referring word that points nowhere after these words: English "there" after "is"
    # ("How many are there?"), German "es" after "gibt" ("Wie viele gibt es?").
    existential_after: tuple[tuple[str, frozenset[str]], ...] = ()
    _opening: re.Pattern = field(init=False, repr=False, compare=False)
    _existential: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        alternatives = "|".join(re.escape(o) for o in sorted(self.openers, key=len, reverse=True))
        tail = "" if self.unspaced else r"(?!\w)"
        object.__setattr__(self, "_opening", re.compile(f"^(?:{alternatives}){tail}" if alternatives else "(?!)", re.IGNORECASE))
        object.__setattr__(self, "_existential", dict(self.existential_after))

    def elliptical(self, question: str) -> bool:
        """A fragment that continues another question: "And by 2000?", "А к 2000 году?", "Why?"."""
        tokens = words(question)
        return bool(tokens) and (bool(self._opening.match(_LEADING.sub("", question))) or len(tokens) <= self.short_words)

    def refers_back(self, question: str) -> bool:
        """A pronoun or demonstrative pointing outside the question ("she", "она", "eso")."""
        if self.unspaced:
            return any(w in question for w in self.referring)
        tokens = words(question)
        for i, token in enumerate(tokens):
            if token in self.referring and not (i and tokens[i - 1] in self._existential.get(token, ())):
                return True
            if token in self.referring_unless_followed and (i + 1 == len(tokens) or tokens[i + 1] not in self.not_followed_by):
                return True
        return False

    def definite(self, question: str) -> bool:
        """Whether the question names something as already known: "the new company"."""
        return bool(self.articles) and any(t in self.articles for t in words(question))

    def own_terms(self, question_terms: list[str]) -> set[str]:
        """The question's topic terms: its index terms without the language's question words and pronouns."""
        if self.function_chars:
            return {t for t in question_terms if t not in self.function and not any(c in self.function_chars for c in t)}
        return {t for t in question_terms if t not in self.function}


def _terms_of(*texts: str) -> frozenset[str]:
    # Compared as index terms (lower-cased, cut to five letters), as question_terms gives them.
    text = " ".join(texts)
    return frozenset(t for w in text.split() for t in terms(w)) | frozenset(text.split())


ENGLISH = Cues(
    referring=frozenset(
        "he she it its they them their theirs his her hers him himself herself itself themselves "
        "there that this these those such same former latter".split()
    ),
    openers=("and what about", "what about", "how about", "what of", "same for", "and", "but", "so", "also", "then", "or"),
    articles=frozenset({"the"}),
    existential_after=(("there", frozenset("is are was were be been".split())),),
)


def _table(referring: str, openers: tuple[str, ...], function: str, articles: str = "", **more) -> Cues:
    """A spaced language's cues; its pronouns and articles are not topic terms either."""
    return Cues(
        referring=frozenset(referring.split()),
        openers=openers,
        articles=frozenset(articles.split()),
        function=_terms_of(function, referring, articles),
        **more,
    )


RUSSIAN = _table(
    referring="он она оно они его её ее их ему ей им него неё нее них нему ней ним нём нем ними "
    "этот эта это эти этого этой этом этих этим этому тот та те того той тех тому там тогда туда оттуда "
    "такой такая такое такие свой своя своё свои",
    openers=("а что насчёт", "а что насчет", "что насчёт", "что насчет", "а как насчёт", "а как насчет", "как насчёт",
             "как насчет", "а", "и", "но", "также", "тогда", "ну а"),
    function="что кто кого кому кем чём чем когда где куда откуда почему зачем как какой какая какое какие каких каком "
    "какую каким сколько чей чья чьё чьи ли же был была было были быть будет будут есть является являются "
    "в во на с со к ко по о об обо от до из у за для при про без над под через между и а но или ни не "
    "ещё еще тоже также уже насчёт насчет всё-таки таки",
    short_words=2,  # "Когда возникает иммунодефицит?" is a whole question
)

SPANISH = _table(
    # "la", "los", "las" are articles as often as pronouns: left out; "lo" is a pronoun
    # except before "que", "cual", "mismo", "más" ("lo que dijo").
    referring="él ella ello ellos ellas le les eso esto esa ese esos esas este esta estos estas aquel aquella aquello "
    "allí allá ahí entonces su sus suyo suya",
    openers=("y qué hay de", "qué hay de", "y qué tal", "qué tal", "y en cuanto a", "en cuanto a", "y", "pero", "entonces",
             "también", "o"),
    articles="el la los las",
    function="qué quién quiénes cuándo dónde adónde cómo cuál cuáles cuánto cuánta cuántos cuántas por porque para de "
    "del en con sin sobre a al lo un una unos unas es son fue fueron era eran ser sido está están estaba ha han había "
    "hay se que y o ni no también muy más",
    pro_drop=True,
    referring_unless_followed=("lo",),
    not_followed_by=frozenset("que cual mismo más".split()),
)

GERMAN = _table(
    referring="er sie es ihm ihn ihr ihre ihren ihrem ihrer sein seine seinen seinem seiner dies diese dieser dieses "
    "diesem diesen dort damals dafür dabei dazu davon darüber daran",
    openers=("und was ist mit", "was ist mit", "wie ist es mit", "und", "aber", "also", "dann", "auch", "oder"),
    articles="der die das den dem des",
    existential_after=(("es", frozenset({"gibt", "gab"})),),
    function="was wer wem wen wessen wann wo woher wohin wie warum weshalb welche welcher welches welchen welchem viele "
    "wieviel ist sind war waren wird werden wurde wurden hat haben hatte hatten in im an am auf aus bei mit nach "
    "von vom zu zum zur für über unter um ein eine einen einem einer und oder aber nicht denn noch auch",
)

FRENCH = _table(
    referring="il elle ils elles lui leur leurs son sa ses cela ça ceci celui celle ceux celles là alors",
    openers=("et qu'en est-il", "qu'en est-il", "et pour", "et", "mais", "alors", "aussi", "ou"),
    articles="le la les l",
    function="que qu quoi qui quand où comment pourquoi quel quelle quels quelles combien est sont était étaient été a "
    "ont avait de du des en dans à au aux pour par sur avec un une et ou ne pas ce cet cette ces aussi",
)

PORTUGUESE = _table(
    referring="ele ela eles elas isso isto esse essa esses essas este esta estes estas aquele aquela aquilo lá então "
    "seu sua seus suas dele dela deles delas",
    openers=("e quanto a", "e o", "e a", "e", "mas", "então", "também", "ou"),
    articles="o a os as",
    function="que quem quando onde como por porque qual quais quanto quanta quantos quantas é são foi foram era eram "
    "ser está estão de do da dos das em no na nos nas para com um uma e ou não também",
    pro_drop=True,
)

CHINESE = Cues(
    referring=frozenset("他们 她们 它们 这个 那个 这些 那些 当时 那里 那儿 这里 他 她 它 该 其".split()),
    openers=("那么", "还有", "另外", "那", "而", "和"),
    unspaced=True,
    function_chars="的了是在吗呢么什时候哪谁几多少为何怎样有和与及这那他她它们个些其该当里儿被把从到对于",
    pro_drop=True,
)

NO_CUES = Cues()

_BY_LANGUAGE = {"en": ENGLISH, "ru": RUSSIAN, "es": SPANISH, "de": GERMAN, "fr": FRENCH, "pt": PORTUGUESE, "zh": CHINESE}


def cues_for(language: str) -> Cues:
    """The cues of ``language`` (an ISO 639-1 code); ``NO_CUES`` for a language without a table."""
    return _BY_LANGUAGE.get(language, NO_CUES)
