"""Follow-ups in other languages: the cues of each language, turns of the two paths, and
a Russian conversation over Russian documents on the multilingual path (fake encoders)."""

from __future__ import annotations

import numpy as np
import pytest

from index.build import build_index
from index.lexical import question_terms
from retrieval.crosslingual import Crosslingual
from retrieval.followup import ALONE, FOLLOW, GATED, JOINED_CHARS, Turn, context_vector, joined_query, reading
from retrieval.followup_cues import ENGLISH, NO_CUES, cues_for
from retrieval.load import load_index
from retrieval.retriever import Retriever
from tests.fakes import FakeEmbedder, write_config
from tests.test_followup import assert_answered_as_alone
from tests.test_multilingual import FakeMultilingual


def read(question: str, language: str) -> str:
    return reading(question, question_terms(question), cues=cues_for(language))


@pytest.mark.parametrize(
    "question, language",
    [
        ("А когда он проходил?", "ru"),
        ("А паразит?", "ru"),
        ("А что насчёт Холдена?", "ru"),
        ("Сколько он их подарил?", "ru"),
        ("¿Y cuándo se celebró?", "es"),
        ("¿Y Holden?", "es"),
        ("¿Dónde fue eso?", "es"),
        ("Und wann fand er statt?", "de"),
        ("Et où a-t-elle eu lieu ?", "fr"),
        ("E quando foi isso?", "pt"),
        ("它是什么时候举行的？", "zh"),
    ],
)
def test_fragments_and_pronouns_read_as_follow_ups_in_their_own_language(question, language):
    assert read(question, language) == FOLLOW


@pytest.mark.parametrize(
    "question, language",
    [
        ("Когда прошёл диалог Пакистана и США по борьбе с терроризмом в Вашингтоне?", "ru"),
        ("¿Cuántos policías paquistaníes entrenó Estados Unidos desde marzo de 2023?", "es"),
        ("Wie viele Quadratkilometer Regenwald waren im Amazonasgebiet bis 2000 verloren?", "de"),
        ("Wie viele Prüfungsbehörden gibt es in Indien?", "de"),  # "es" after "gibt" points nowhere
    ],
)
def test_questions_standing_on_their_own_stay_alone_in_their_own_language(question, language):
    assert read(question, language) == ALONE


def test_question_words_of_another_language_are_not_counted_as_topic_words():
    question = "А когда он проходил?"
    assert cues_for("ru").own_terms(question_terms(question)) == {"прохо"}
    # Read with English cues, its words all look like topic words and nothing points back.
    assert reading(question, question_terms(question), cues=ENGLISH) == ALONE


def test_a_language_without_cues_leans_on_the_previous_turn_only_when_short_or_with_one_topic_word():
    assert cues_for("sw") is NO_CUES
    assert read("Ilifanyika lini?", "sw") == FOLLOW  # "When did it happen?": a fragment by its length
    assert read("Mkutano ulifanyika mji gani mwaka huo?", "sw") == ALONE


def test_a_turn_keeps_the_model_of_its_vector_and_is_mixed_only_into_the_same_model():
    turn = Turn("Кто?", ("кто",), (0.0, 1.0), "a.txt", 2, space="multilingual-e5-small")
    assert Turn.from_json(turn.to_json()) == turn
    assert Turn.from_json({"question": "q", "space": 7}) is None
    assert Turn.from_json({"question": "q"}).space == ""  # a record from before spaces were kept
    q = np.array([1.0, 0.0])
    assert context_vector(q, turn, weight=1.0, space="all-MiniLM-L6-v2") is q
    mixed = context_vector(q, turn, weight=1.0, space="multilingual-e5-small")
    assert np.allclose(mixed, np.array([1.0, 1.0]) / np.sqrt(2))


HARBOUR_RU = """Переговоры в гавани

Переговоры в гавани возглавляли Инеш Дуарте и Томас Берг, директора двух портов.

Переговоры проходили в городе Валлетта двенадцатого июня, в старой таможне у причала.

Профсоюз паромщиков просил продлить часы стоянки ночных паромов и построить новый зал ожидания.
"""

ORCHARD_RU = """Записки о саде

Садовый кооператив посадил четыреста груш на холме над деревней.

Пасечники перевезли тридцать ульев в сад, когда в апреле раскрылись цветы.

Ярмарка сада с дегустацией груш и пасеками проходила в городе Мдина в мае.
"""


@pytest.fixture
def russian(tmp_path):
    config = write_config(tmp_path)
    (config.seeds.dir / "harbour.txt").write_text(HARBOUR_RU, encoding="utf-8")
    (config.seeds.dir / "orchard.txt").write_text(ORCHARD_RU, encoding="utf-8")
    multilingual = FakeMultilingual()
    embedder = FakeEmbedder(dimension=1024)
    build_index(config, embedder, multilingual=multilingual)
    index = load_index(config.index.dir, embedder.name)
    retriever = Retriever(index, embedder, config.retrieval, multilingual=Crosslingual(index, multilingual, config.retrieval))
    yield retriever
    retriever.close()


def test_a_russian_follow_up_is_answered_from_what_the_russian_question_before_it_was_about(russian):
    first = russian.answer("Кто возглавлял переговоры в гавани?")
    assert "Инеш Дуарте" in first.candidate.text and first.turn.doc == "harbour.txt"
    assert first.turn.space == "fake-multilingual"  # the multilingual path's turn, kept for the next question

    later = russian.answer("А в каком городе они проходили?", context=first.turn)
    assert later.context == first.turn and "Валлетта" in later.candidate.text

    fair = russian.answer("Что было на ярмарке сада?")
    assert fair.turn.doc == "orchard.txt"
    elsewhere = russian.answer("А в каком городе они проходили?", context=fair.turn)
    assert elsewhere.context == fair.turn and "Мдина" in elsewhere.candidate.text


def test_a_new_russian_topic_after_a_russian_question_is_answered_as_alone(russian):
    question = "Сколько груш посадил садовый кооператив на холме над деревней?"
    after = assert_answered_as_alone(russian, "Кто возглавлял переговоры в гавани?", question)
    assert "четыреста груш" in after.candidate.text


def test_a_follow_up_on_the_multilingual_path_is_searched_with_the_question_before_it_joined(russian):
    encoder = russian.multilingual.same.embedder.inner
    first = russian.answer("Кто возглавлял переговоры в гавани?")
    encoder.queries.clear()
    later = russian.answer("А в каком городе они проходили?", context=first.turn)
    # Read as a follow-up before any search: one encode, of both questions together.
    assert encoder.queries == ["Кто возглавлял переговоры в гавани? А в каком городе они проходили?"]
    assert later.turn.query == encoder.queries[0] and later.turn.question == "А в каком городе они проходили?"
    encoder.queries.clear()
    russian.answer("А когда?", context=later.turn)  # the third turn still carries the first one's topic
    assert encoder.queries == ["Кто возглавлял переговоры в гавани? А в каком городе они проходили? А когда?"]


def test_a_joined_query_keeps_the_latest_words_when_a_conversation_runs_long():
    turn = Turn("q", (), query="слово " * 200)
    query = joined_query(turn, "А когда?")
    assert len(query) <= JOINED_CHARS and query.endswith("слово А когда?") and query.startswith("слово")


def test_a_short_question_after_an_english_turn_stays_english(russian):
    languages = russian.multilingual.languages
    assert languages.detect("Why?") != "en"  # alone, the identifier puts it elsewhere
    assert languages.detect("Why?", previous="en") == "en"
    assert languages.detect("¿Cuántos policías entrenó Estados Unidos desde marzo?", previous="en") == "es"
