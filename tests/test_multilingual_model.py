"""The real multilingual encoder and language identifier: questions and documents in other languages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.config import load_config
from index.build import build_index
from retrieval.retriever import Retriever
from tests.fakes import SEED_ARTICLE

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.model


def _first_paragraph(path: Path) -> str:
    title, body = path.read_text(encoding="utf-8").lstrip("\ufeff").split("\n\n", 2)[:2]
    return f"{title}\n\n{body.lstrip(chr(0xFEFF))}\n"


@pytest.fixture(scope="module")
def multilingual():
    from core.multilingual import E5_SMALL, load_multilingual

    return load_multilingual(E5_SMALL)


@pytest.fixture(scope="module")
def shipped():
    """The shipped multilingual encoder: e5 with USE v3 fused in across languages."""
    from core.config import DEFAULT_MULTILINGUAL_MODEL
    from core.multilingual import load_multilingual

    return load_multilingual(DEFAULT_MULTILINGUAL_MODEL)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, real_embedder, shipped):
    """The English seed article, a Russian and a Chinese one, indexed with both encoders (shipped settings)."""
    root = tmp_path_factory.mktemp("multilingual")
    (root / "seeds").mkdir()
    (root / "seeds" / "article.txt").write_text(SEED_ARTICLE.read_text(encoding="utf-8"), encoding="utf-8")
    (root / "seeds" / "superbowl-ru.txt").write_text(_first_paragraph(REPO / "eval/xquad_ru/docs/Super_Bowl_50.txt"), encoding="utf-8")
    (root / "seeds" / "superbowl-zh.txt").write_text(_first_paragraph(REPO / "eval/xquad_zh/docs/Super_Bowl_50.txt"), encoding="utf-8")
    text = (REPO / "config.toml").read_text(encoding="utf-8").replace('backend = "auto"', 'backend = "torch"')
    (root / "config.toml").write_text(text, encoding="utf-8")
    config = load_config(root / "config.toml")
    build_index(config, real_embedder, multilingual=shipped)
    return Retriever.open(config, real_embedder, multilingual=shipped)


def test_the_packaged_encoder_behaves_as_the_published_model(multilingual):
    # The model card's example: each query is nearest its own passage.
    queries = multilingual.encode_queries(["how much protein should a female eat", "summit define"])
    passages = multilingual.encode([
        "As a general guideline, the CDC's average requirement of protein for women ages 19 to 70 is 46 grams per day.",
        "Definition of summit for English Language Learners. : 1 the highest point of a mountain : the top of a mountain.",
    ])
    scores = queries @ passages.T
    assert scores[0, 0] > scores[0, 1] and scores[1, 1] > scores[1, 0]
    # Translations lie nearer each other than unrelated sentences in the same language.
    english, russian, chinese, other = multilingual.encode([
        "The Panthers defense gave up just 308 points.",
        "Защита Пэнтерс уступила всего 308 очков.",
        "黑豹队的防守只丢了 308 分。",
        "The Amazon rainforest covers much of the Amazon basin of South America.",
    ])
    assert float(english @ russian) > float(english @ other) and float(english @ chinese) > float(english @ other)
    assert np.allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-3)


def test_the_packaged_use_encoder_behaves_as_the_published_model(shipped):
    # USE multilingual v3 maps translations near each other and away from other subjects,
    # in Chinese and Arabic as in Russian; its vectors are unit length.
    english, russian, chinese, arabic, other = shipped.use.encode([
        "The Panthers defense gave up just 308 points.",
        "Защита Пэнтерс уступила всего 308 очков.",
        "黑豹队的防守只丢了 308 分。",
        "لم يتنازل دفاع الفهود إلا عن 308 نقاط.",
        "The Amazon rainforest covers much of the Amazon basin of South America.",
    ])
    for translation in (russian, chinese, arabic):
        assert float(english @ translation) > float(english @ other) + 0.2
    assert np.allclose(np.linalg.norm([english, other], axis=1), 1.0, atol=1e-5)
    # A fused question vector is e5's followed by the scaled USE vector; unfused, the second part is zero.
    question = "黑豹队的防守丢了多少分？"
    both, alone = shipped.encode_queries([question]), shipped.encode_queries([question], fuse=False)
    assert both.shape == (1, 384 + 512) and np.array_equal(both[0, :384], alone[0, :384])
    assert not alone[0, 384:].any() and np.linalg.norm(both[0, 384:]) == pytest.approx(np.sqrt(0.1), abs=1e-4)


def test_a_chinese_question_is_answered_by_the_english_sentence(mixed):
    answer = mixed.answer("谁共同主持了巴基斯坦与美国的反恐对话？")
    assert answer.candidate.doc == "article.txt"
    assert "Elizabeth Richard" in answer.candidate.text


def test_a_russian_question_is_answered_by_the_english_sentence(mixed):
    answer = mixed.answer("Кто был сопредседателем пакистано-американского диалога по борьбе с терроризмом?")
    assert answer.answered and answer.sentence.doc == "article.txt"
    assert "Elizabeth Richard" in answer.answer


def test_a_russian_document_answers_in_russian_and_in_english(mixed):
    for question in ("Сколько очков уступила защита Пэнтерс?", "How many points did the Panthers defense give up?"):
        answer = mixed.answer(question)
        assert answer.answered and answer.sentence.doc == "superbowl-ru.txt", question
        assert "308 очков" in answer.answer


def test_a_chinese_question_finds_its_sentence_in_a_chinese_document(mixed):
    answer = mixed.answer("黑豹队的防守丢了多少分？")
    assert answer.answered and answer.sentence.doc == "superbowl-zh.txt"
    assert "308" in answer.answer and answer.answer.endswith("。")


def test_an_off_topic_question_in_spanish_is_declined(mixed):
    assert not mixed.answer("¿Cuál es la temperatura de ebullición del nitrógeno líquido?").answered


def test_a_question_vector_is_the_same_on_one_engine_thread_as_on_every_core(multilingual):
    # A question is embedded on as many engine threads as are free at that instant,
    # documents at build time on every core: the vector must not depend on the count.  The
    # engine reads its thread count once per process, so each fixed count runs in its own.
    import subprocess
    import sys

    question = "¿Cuántos puntos dejaron escapar los Panthers?"
    script = (
        "import sys; from core.multilingual import E5_SMALL, load_multilingual; "
        "encoder = load_multilingual(E5_SMALL, threads=int(sys.argv[2])); "
        "sys.stdout.buffer.write(encoder.encode_queries([sys.argv[1]]).tobytes())"
    )
    vectors = [
        np.frombuffer(subprocess.run([sys.executable, "-c", script, question, str(n)], cwd=REPO, capture_output=True, check=True).stdout, dtype=np.float32)
        for n in (1, 2)
    ]
    assert np.array_equal(vectors[0], vectors[1])
    assert np.array_equal(vectors[0], multilingual.encode_queries([question])[0])


def test_a_short_question_is_taken_in_a_language_of_the_documents_when_that_is_plausible():
    from core.lang import LanguageIdentifier

    languages = LanguageIdentifier()
    question = "Где прошла игра Супербоул 50?"  # the identifier ranks Serbian (0.35) just above Russian (0.32)
    assert languages.detect(question) != "ru"
    assert languages.detect(question, {"en", "ru"}) == "ru"
    # A language the documents are not in is not forced on a question that is clearly another.
    assert languages.detect("¿Quién copresidió el diálogo?", {"en", "ru"}) == "es"
    assert languages.detect("Who co-chaired the dialogue?", {"en", "ru"}) == "en"


def test_a_short_russian_question_in_a_mixed_collection_is_read_as_russian(mixed):
    # Read as Russian, it goes to the same-language path and its abstention model.
    answer = mixed.answer("Где прошла игра Супербоул 50?")
    assert mixed.multilingual.language("Где прошла игра Супербоул 50?") == "ru"
    assert answer.candidate.doc == "superbowl-ru.txt"


def test_a_russian_follow_up_about_an_english_article_is_answered_from_the_question_before(mixed):
    first = mixed.answer("Кто был сопредседателем диалога?")
    assert "Elizabeth Richard" in first.candidate.text and first.turn.language == "ru"
    later = mixed.answer("А когда он проходил?", context=first.turn)
    assert later.context == first.turn
    assert "May 10" in later.candidate.text or "last week" in later.candidate.text
    alone = mixed.answer("А когда он проходил?")  # without the conversation it has nothing to go on
    assert alone.context is None and not alone.answered
