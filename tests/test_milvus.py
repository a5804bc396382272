"""``[index] store = "milvus"``: the same answers as FAISS, builds through a milvus-lite server, a server killed mid-build."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.config import load_config
from core.errors import IndexNotFoundError, StoreUnavailableError
from index.build import build_index
from index.lexical import LexicalIndex
from index.milvus import query_all
from retrieval.retriever import Retriever
from tests.fakes import SEED_ARTICLE, FakeEmbedder, write_config
from tests.milvus_lite import MilvusLiteServer, free_port
from tests.test_build import DOCS, write_seeds

REPO = Path(__file__).resolve().parent.parent

QUESTIONS = [
    "Which volcano in Sicily is active?",
    "What do blue whales eat?",
    "How is black tea made?",
    "Who co-chaired the dialogue?",
    "When did the dialogue take place?",
    "What did the two countries agree to do about terrorism?",
    "Which countries took part in the counterterrorism dialogue?",
    "What is the capital of Peru?",
]


def milvus_config(tmp_path: Path, uri: str, collection: str = "docqa"):
    """A config like tests.fakes.write_config's, with the Milvus store at ``uri``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    write_config(tmp_path)
    path = tmp_path / "config.toml"
    text = path.read_text(encoding="utf-8").replace('model = "fake-embedder"\n', 'model = "fake-embedder"\nstore = "milvus"\n')
    path.write_text(text + f'[milvus]\nuri = "{uri}"\ncollection = "{collection}"\n', encoding="utf-8")
    return load_config(path)


def write_corpus(config) -> None:
    write_seeds(config)
    (config.seeds.dir / "article.txt").write_text(SEED_ARTICLE.read_text(encoding="utf-8"), encoding="utf-8")


@pytest.fixture
def server(tmp_path):
    server = MilvusLiteServer(tmp_path / "milvus-data").start()
    try:
        yield server
    finally:
        server.kill()


def test_milvus_store_gives_the_answers_the_faiss_store_gives(tmp_path):
    (tmp_path / "faiss").mkdir()
    faiss_config = write_config(tmp_path / "faiss")
    milvus = milvus_config(tmp_path / "milvus", "milvus.db")
    for config in (faiss_config, milvus):
        write_corpus(config)
        build_index(config, FakeEmbedder())
    faiss_retriever, milvus_retriever = Retriever.open(faiss_config, FakeEmbedder()), Retriever.open(milvus, FakeEmbedder())
    try:
        assert milvus_retriever.documents == faiss_retriever.documents
        for question in QUESTIONS:
            want, got = faiss_retriever.answer(question), milvus_retriever.answer(question)
            assert (got.answered, got.answer) == (want.answered, want.answer), question
            assert [(e.doc, e.paragraph, e.text) for e in got.extracts] == [(e.doc, e.paragraph, e.text) for e in want.extracts], question
            assert got.confidence == pytest.approx(want.confidence, abs=1e-6), question
        # Follow-ups (issue 16) read the cited document's passages through the store too.
        for first, then in [("Who co-chaired the dialogue?", "When did it take place?"), ("What do blue whales eat?", "And humpbacks?")]:
            want = faiss_retriever.answer(then, context=faiss_retriever.answer(first).turn)
            got = milvus_retriever.answer(then, context=milvus_retriever.answer(first).turn)
            assert (got.answer, [e.text for e in got.extracts]) == (want.answer, [e.text for e in want.extracts]), then
        assert milvus_retriever.summary("article.txt") == faiss_retriever.summary("article.txt")
        assert milvus_retriever.paragraph("article.txt", 3) == faiss_retriever.paragraph("article.txt", 3)
    finally:
        faiss_retriever.close()
        milvus_retriever.close()


def test_build_reindex_and_answer_through_a_milvus_lite_server(tmp_path, server):
    config = milvus_config(tmp_path, server.uri)
    write_corpus(config)
    first = build_index(config, FakeEmbedder())
    assert first.documents == 4 and sorted(first.added) == sorted([*DOCS, "article.txt"])
    retriever = Retriever.open(config, FakeEmbedder())
    answer = retriever.answer("Which volcano in Sicily is active?")
    assert answer.answered and "Etna" in answer.answer
    retriever.close()

    (config.seeds.dir / "tea.md").write_text("# Tea\n\nOolong tea is partly oxidised.", encoding="utf-8")
    (config.seeds.dir / "whales.txt").unlink()
    counting = FakeEmbedder()
    report = build_index(config, counting)
    assert (report.changed, report.removed, report.added) == (["tea.md"], ["whales.txt"], [])
    assert counting.embedded == ["Oolong tea is partly oxidised."]  # nothing else is embedded again
    assert report.version != first.version  # the other version, now live

    retriever = Retriever.open(config, FakeEmbedder())
    try:
        assert [doc for doc, _ in retriever.documents] == ["article.txt", "tea.md", "volcanoes.txt"]
        assert retriever.answer("Which tea is partly oxidised?").answer == "Oolong tea is partly oxidised."
        assert all(h.passage.doc != "whales.txt" for h in retriever.search("blue whale krill", 10))
        # The term statistics followed the documents: the same as counting the passages afresh.
        index = retriever.index
        fresh = LexicalIndex.build(row["text"] for row in query_all(index.client, index.names.passages, "id >= 0", ["text"]))
        for term in ("oolong", "whale", "tea", "volca", "dialo"):
            assert retriever.index.lexical.idf(term) == pytest.approx(fresh.idf(term)), term
            assert retriever.index.lexical.known(term) == fresh.known(term), term
    finally:
        retriever.close()

    # A third build, nothing changed: the standby catches up by copying, embedding nothing.
    counting = FakeEmbedder()
    report = build_index(config, counting)
    assert counting.embedded == [] and report.version == first.version and report.passages == retriever.passage_count


BUILD_THEN_STALL = textwrap.dedent(
    """
    import sys
    import index.milvus_build as milvus_build
    from core.config import load_config
    from index.build import build_index
    from tests.fakes import FakeEmbedder

    real_insert = milvus_build.insert

    def insert(client, collection, rows):
        real_insert(client, collection, rows)
        print("inserted", flush=True)
        sys.stdin.readline()  # wait here, mid-build, until the test has killed the server

    milvus_build.insert = insert
    build_index(load_config(sys.argv[1]), FakeEmbedder())
    """
)


def test_server_killed_mid_build_keeps_the_old_version_answering_and_the_next_build_repairs(tmp_path, server):
    config = milvus_config(tmp_path, server.uri)
    write_seeds(config)
    build_index(config, FakeEmbedder())
    for i in range(40):
        (config.seeds.dir / f"new{i}.txt").write_text(f"The comet halley{i} passed the harbour lighthouse.", encoding="utf-8")
    builder = subprocess.Popen(
        [sys.executable, "-c", BUILD_THEN_STALL, str(config.path)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    try:
        assert builder.stdout.readline().strip() == "inserted"  # some rows of the new version are written
        server.kill()
    finally:
        builder.kill()
        builder.wait(timeout=30)

    with pytest.raises(StoreUnavailableError) as err:
        Retriever.open(config, FakeEmbedder())
    assert server.uri in str(err.value)

    server.start()  # the same data folder and port
    retriever = Retriever.open(config, FakeEmbedder())
    try:
        assert [doc for doc, _ in retriever.documents] == sorted(DOCS)  # the old version, whole
        assert retriever.answer("Which volcano in Sicily is active?").answered
        assert not any(h.passage.doc.startswith("new") for h in retriever.search("comet harbour lighthouse", 10))
    finally:
        retriever.close()

    report = build_index(config, FakeEmbedder())
    assert report.documents == 43 and len(report.added) == 40
    retriever = Retriever.open(config, FakeEmbedder())
    try:
        assert retriever.search("When did halley7 pass?", 1)[0].passage.doc == "new7.txt"
        # The half-written version's term counts were recounted: "comet" is in 40 passages, not more.
        fresh = LexicalIndex.build(["x"] * (retriever.passage_count - 40) + ["comet"] * 40)
        assert retriever.index.lexical.idf("comet") == pytest.approx(fresh.idf("comet"))
    finally:
        retriever.close()


def test_no_server_is_a_one_line_error_naming_the_address(tmp_path, monkeypatch):
    monkeypatch.setenv("MILVUS_TOKEN", "root:s3cret-token")
    config = milvus_config(tmp_path, f"http://127.0.0.1:{free_port()}")
    write_seeds(config)
    with pytest.raises(StoreUnavailableError) as err:
        build_index(config, FakeEmbedder())
    message = str(err.value)
    assert "127.0.0.1" in message and "s3cret" not in message and "\n" not in message
    with pytest.raises(StoreUnavailableError) as err:
        Retriever.open(config, FakeEmbedder())
    assert "s3cret" not in str(err.value)


def test_store_without_a_build_says_how_to_build(tmp_path):
    config = milvus_config(tmp_path, "empty.db")
    with pytest.raises(IndexNotFoundError) as err:
        Retriever.open(config, FakeEmbedder())
    assert "'docqa'" in str(err.value) and "python -m index build" in str(err.value)


@pytest.mark.slow
@pytest.mark.model
def test_xquad_eval_with_milvus_matches_faiss(tmp_path, real_embedder):
    """The issue's bar: S@1 and P@3 within 0.01 of the FAISS store on xquad_en (1,190 questions)."""
    from core.config import load_config
    from retrieval.evaluate import evaluate, read_questions

    xquad = REPO / "eval" / "xquad_en"
    questions = read_questions(xquad / "questions.jsonl")
    shipped = (REPO / "config.toml").read_text(encoding="utf-8")
    (tmp_path / "faiss.toml").write_text(shipped, encoding="utf-8")
    milvus_text = shipped.replace('store = "faiss"', 'store = "milvus"').replace('uri = "http://127.0.0.1:19530"', 'uri = "eval.db"')
    (tmp_path / "milvus.toml").write_text(milvus_text, encoding="utf-8")
    reports = {}
    for name in ("faiss", "milvus"):
        config = load_config(tmp_path / f"{name}.toml")
        reports[name] = evaluate(config, real_embedder, xquad / "docs", questions, modes=["hybrid"])[0]
    faiss, milvus = reports["faiss"], reports["milvus"]
    assert abs(milvus.s_at_1 - faiss.s_at_1) <= 0.01 and abs(milvus.p_at_3 - faiss.p_at_3) <= 0.01, (faiss, milvus)


def test_live_version_moves_with_each_build_and_an_open_index_keeps_its_own(tmp_path):
    from retrieval.index_store import live_version

    config = milvus_config(tmp_path, "replicas.db")
    assert live_version(config) is None
    write_seeds(config)
    build_index(config, FakeEmbedder())
    serving = Retriever.open(config, FakeEmbedder())
    assert live_version(config) == serving.index.version
    (config.seeds.dir / "tea.md").write_text("# Tea\n\nOolong tea is partly oxidised.", encoding="utf-8")
    build_index(config, FakeEmbedder())
    assert live_version(config) != serving.index.version  # a replica polling this swaps in the new one
    try:
        # Until it does, the replica answers from the version it opened, whole.
        assert serving.paragraph("tea.md", 2).text == "Black tea is fully oxidised before drying."
        assert "Green tea" in serving.answer("Which tea is made from unoxidised leaves?").answer
        fresh = Retriever.open(config, FakeEmbedder())
        assert live_version(config) == fresh.index.version
        assert fresh.answer("Which tea is partly oxidised?").answer == "Oolong tea is partly oxidised."
        fresh.close()
    finally:
        serving.close()
