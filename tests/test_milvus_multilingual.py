"""The multilingual path on the Milvus store: the FAISS store's answers, incremental builds, real models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import load_config
from index.build import build_index
from index.milvus import Names, live_version, query_all
from retrieval.retriever import Retriever
from tests.fakes import SEED_ARTICLE, FakeEmbedder, write_config
from tests.milvus_lite import MilvusLiteServer
from tests.test_milvus import milvus_config, server  # noqa: F401 (server: the fixture)
from tests.test_multilingual import RUSSIAN, FakeMultilingual

REPO = Path(__file__).resolve().parent.parent

QUESTIONS = [
    "Кто был сопредседателем диалога Pakistan-US Counterterrorism Dialogue?",
    "Где прошла игра Супербоул 50?",
    "Какой счёт был в матче Денвер Бронкос?",
    "¿Quién copresidió el Pakistan-US Counterterrorism Dialogue?",
    "Who co-chaired the dialogue?",
    "When did the dialogue take place?",
    "¿Cuál es la temperatura de ebullición del nitrógeno líquido?",
]


def _seed(config, russian: bool = True) -> None:
    (config.seeds.dir / "article.txt").write_text(SEED_ARTICLE.read_text(encoding="utf-8"), encoding="utf-8")
    if russian:
        (config.seeds.dir / "ru.txt").write_text(RUSSIAN, encoding="utf-8")


def _open(config, multilingual) -> Retriever:
    return Retriever.open(config, FakeEmbedder(), multilingual=multilingual)


def test_milvus_store_gives_the_faiss_stores_answers_to_questions_in_other_languages(tmp_path, server):
    (tmp_path / "faiss").mkdir()
    faiss_config = write_config(tmp_path / "faiss")
    milvus = milvus_config(tmp_path / "milvus", server.uri)
    multilingual = FakeMultilingual()
    for config in (faiss_config, milvus):
        _seed(config)
        build_index(config, FakeEmbedder(), multilingual=multilingual)
    faiss_retriever, milvus_retriever = _open(faiss_config, multilingual), _open(milvus, multilingual)
    try:
        assert milvus_retriever.index.languages == {"article.txt": "en", "ru.txt": "ru"}
        assert milvus_retriever.multilingual is not None
        for question in QUESTIONS:
            assert milvus_retriever.multilingual.takes(question), question  # the documents are not all English
            want, got = faiss_retriever.answer(question), milvus_retriever.answer(question)
            assert (got.answered, got.answer) == (want.answered, want.answer), question
            # The first extract (the answer's); the fake encoders tie on passages sharing no
            # word with the question, which each store orders its own way further down.
            assert [(e.doc, e.paragraph, e.text) for e in got.extracts[:1]] == [(e.doc, e.paragraph, e.text) for e in want.extracts[:1]], question
            assert got.confidence == pytest.approx(want.confidence, abs=1e-5), question
            assert milvus_retriever.search(question, 3)[0].passage == faiss_retriever.search(question, 3)[0].passage, question
        answer = milvus_retriever.answer("Где прошла игра Супербоул 50?")
        assert answer.candidate.doc == "ru.txt" and "стадионе Леви" in answer.candidate.text
    finally:
        faiss_retriever.close()
        milvus_retriever.close()


def _manifest(config) -> dict:
    from index.milvus import connect, read_manifest

    client = connect(config.milvus)
    try:
        return read_manifest(client, Names(config.milvus.collection, live_version(client, config.milvus.collection)))
    finally:
        client.close()


def _ml_fields(config) -> set[str]:
    from index.milvus import connect

    client = connect(config.milvus)
    try:
        names = Names(config.milvus.collection, live_version(client, config.milvus.collection))
        return {f["name"] for f in client.describe_collection(names.passages)["fields"]} & {"ml_vector"}
    finally:
        client.close()


def test_milvus_builds_keep_the_multilingual_vectors_of_unchanged_documents_and_add_or_drop_the_set(tmp_path, server):
    config = milvus_config(tmp_path, server.uri)
    _seed(config)
    # English only first (the test config says multilingual_model = ""): no second field, no path.
    build_index(config, FakeEmbedder())
    assert "multilingual" not in _manifest(config) and not _ml_fields(config)
    retriever = _open(config, FakeMultilingual())
    assert retriever.multilingual is None  # English until a build adds the set
    retriever.close()

    # The same documents with the encoder: English vectors copied, every text embedded by it once.
    english, first = FakeEmbedder(), FakeMultilingual()
    report = build_index(config, english, multilingual=first)
    assert english.embedded == [] and report.multilingual_embedded == len(first.embedded) > 0
    assert _manifest(config)["multilingual"]["model"] == "fake-multilingual" and _ml_fields(config) == {"ml_vector"}
    retriever = _open(config, first)
    assert retriever.answer("Где прошла игра Супербоул 50?").candidate.doc == "ru.txt"
    retriever.close()

    # Twice more (each version of the pair once): nothing embedded again by either encoder.
    for _ in range(2):
        english, again = FakeEmbedder(), FakeMultilingual()
        assert build_index(config, english, multilingual=again).multilingual_embedded == 0
        assert english.embedded == [] and again.embedded == []

    # An edit re-embeds that document alone, with both encoders.
    (config.seeds.dir / "ru.txt").write_text(RUSSIAN + "\nНовый абзац о матче.\n", encoding="utf-8")
    english, edited = FakeEmbedder(), FakeMultilingual()
    build_index(config, english, multilingual=edited)
    assert edited.embedded and all("ISLAMABAD" not in text for text in edited.embedded)
    assert any("Новый абзац" in text for text in edited.embedded)
    assert all("ISLAMABAD" not in text for text in english.embedded)
    retriever = _open(config, edited)
    try:
        answer = retriever.answer("Новый абзац о матче?")
        assert answer.candidate.doc == "ru.txt"
        # Passages copied from the version before carry their multilingual vectors: the same
        # cosines as a build from scratch gives them (the FAISS store, fresh).
        (tmp_path / "fresh").mkdir()
        fresh_config = write_config(tmp_path / "fresh")
        _seed(fresh_config)
        (fresh_config.seeds.dir / "ru.txt").write_text(RUSSIAN + "\nНовый абзац о матче.\n", encoding="utf-8")
        build_index(fresh_config, FakeEmbedder(), multilingual=FakeMultilingual())
        fresh = _open(fresh_config, FakeMultilingual())
        for question in QUESTIONS[:4]:
            want, got = fresh.answer(question), retriever.answer(question)
            assert (got.answer, got.confidence) == (want.answer, pytest.approx(want.confidence, abs=1e-5)), question
        fresh.close()
    finally:
        retriever.close()

    # Turned off again: the set goes, English answers stay, nothing re-embedded in English.
    english = FakeEmbedder()
    build_index(config, english)
    assert english.embedded == [] and "multilingual" not in _manifest(config) and not _ml_fields(config)
    retriever = _open(config, FakeMultilingual())
    try:
        assert retriever.multilingual is None
        assert "Elizabeth Richard" in retriever.answer("Who co-chaired the Pakistan-US Counterterrorism Dialogue?").answer
    finally:
        retriever.close()


def test_documents_in_a_version_built_before_languages_were_recorded_get_theirs_on_the_next_build(tmp_path):
    config = milvus_config(tmp_path, "old.db")
    _seed(config)
    build_index(config, FakeEmbedder())
    from index.milvus import connect

    client = connect(config.milvus)
    try:  # as a build before this change wrote the documents' markers: no "language"
        names = Names(config.milvus.collection, live_version(client, config.milvus.collection))
        for row in query_all(client, names.documents, "part == 0", ["key", "doc", "part", "text", "info", "unused"]):
            info = json.loads(row["info"])
            info.pop("language")
            client.upsert(names.documents, [dict(row) | {"info": json.dumps(info)}])
    finally:
        client.close()
    retriever = _open(config, None)
    assert retriever.index.languages == {"article.txt": "en", "ru.txt": "en"}  # unknown reads as English
    retriever.close()
    multilingual = FakeMultilingual()
    build_index(config, FakeEmbedder(), multilingual=multilingual)
    retriever = _open(config, multilingual)
    try:
        assert retriever.index.languages == {"article.txt": "en", "ru.txt": "ru"}
    finally:
        retriever.close()


# ---------------------------------------------------------------- real models


@pytest.fixture(scope="module")
def multilingual():
    """The shipped multilingual encoder (e5 with USE v3 fused in: 896-dimensional vectors)."""
    from core.config import DEFAULT_MULTILINGUAL_MODEL
    from core.multilingual import load_multilingual

    return load_multilingual(DEFAULT_MULTILINGUAL_MODEL)


def _first_paragraph(path: Path) -> str:
    title, body = path.read_text(encoding="utf-8").lstrip("\ufeff").split("\n\n", 2)[:2]
    return f"{title}\n\n{body.lstrip(chr(0xFEFF))}\n"


@pytest.fixture(scope="module")
def mixed_stores(tmp_path_factory, real_embedder, multilingual):
    """The English seed article and a Russian one, indexed with both encoders in each store (shipped settings)."""
    root = tmp_path_factory.mktemp("milvus-multilingual")
    server = MilvusLiteServer(root / "milvus-data").start()
    retrievers = {}
    try:
        shipped = (REPO / "config.toml").read_text(encoding="utf-8").replace('backend = "auto"', 'backend = "torch"')
        for store in ("faiss", "milvus"):
            folder = root / store
            (folder / "seeds").mkdir(parents=True)
            (folder / "seeds" / "article.txt").write_text(SEED_ARTICLE.read_text(encoding="utf-8"), encoding="utf-8")
            ru = _first_paragraph(REPO / "eval/xquad_ru/docs/Super_Bowl_50.txt")
            (folder / "seeds" / "superbowl-ru.txt").write_text(ru, encoding="utf-8")
            text = shipped
            if store == "milvus":
                text = text.replace('store = "faiss"', 'store = "milvus"').replace('uri = "http://127.0.0.1:19530"', f'uri = "{server.uri}"')
            (folder / "config.toml").write_text(text, encoding="utf-8")
            config = load_config(folder / "config.toml")
            assert config.index.store == store
            build_index(config, real_embedder, multilingual=multilingual)
            retrievers[store] = Retriever.open(config, real_embedder, multilingual=multilingual)
        yield retrievers
    finally:
        for retriever in retrievers.values():
            retriever.close()
        server.kill()


@pytest.mark.model
def test_on_milvus_a_russian_question_is_answered_by_the_english_sentence(mixed_stores):
    answer = mixed_stores["milvus"].answer("Кто был сопредседателем пакистано-американского диалога по борьбе с терроризмом?")
    assert answer.answered and answer.sentence.doc == "article.txt"
    assert "Elizabeth Richard" in answer.answer


@pytest.mark.model
def test_on_milvus_a_russian_document_answers_in_russian_and_in_english(mixed_stores):
    for question in ("Сколько очков уступила защита Пэнтерс?", "How many points did the Panthers defense give up?"):
        answer = mixed_stores["milvus"].answer(question)
        assert answer.answered and answer.sentence.doc == "superbowl-ru.txt", question
        assert "308 очков" in answer.answer


@pytest.mark.model
def test_on_milvus_xquad_questions_in_other_languages_get_the_faiss_stores_answers(mixed_stores):
    # A few translated XQuAD questions about the two documents (Super Bowl 50's first paragraph).
    questions = [
        json.loads(line)["question"]
        for lang in ("es", "ru", "de", "zh")
        for line in (REPO / "eval/xquad_xling" / f"{lang}.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    ]
    questions += ["¿Cuál es la temperatura de ebullición del nitrógeno líquido?", "Who co-chaired the dialogue?"]
    faiss, milvus = mixed_stores["faiss"], mixed_stores["milvus"]
    for question in questions:
        want, got = faiss.answer(question), milvus.answer(question)
        assert (got.answered, got.answer) == (want.answered, want.answer), question
        assert got.confidence == pytest.approx(want.confidence, abs=1e-4), question
