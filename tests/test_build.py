"""Index build: FAISS against brute force, round trip, incremental and atomic updates."""

import json
import os

import numpy as np
import pytest

from core.errors import BuildError, IndexCorruptError, IndexMismatchError, IndexNotFoundError
from index.build import build_index
from index.faiss_build import make_faiss_index
from index.store import current_dir
from retrieval.load import load_index
from retrieval.retriever import Retriever
from tests.fakes import FakeEmbedder, SEED_ARTICLE

DOCS = {
    "whales.txt": "Whales\n\nThe blue whale is the largest animal ever known. It eats krill.\n\n"
    "Humpback whales sing long songs that travel far under water.",
    "volcanoes.txt": "Volcanoes\n\nA volcano erupts when magma rises through the crust. Lava flows follow.\n\n"
    "Mount Etna in Sicily is one of the most active volcanoes in Europe.",
    "tea.md": "# Tea\n\nGreen tea is made from unoxidised leaves.\n\nBlack tea is fully oxidised before drying.",
}


def write_seeds(config, docs=DOCS):
    for name, text in docs.items():
        (config.seeds.dir / name).write_text(text, encoding="utf-8")


def test_faiss_search_matches_brute_force_cosine_top_k():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(500, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.normal(size=(20, 32)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    index = make_faiss_index(vectors, "flat")
    scores, ids = index.search(queries, 10)
    brute = queries @ vectors.T
    expected = np.argsort(-brute, axis=1)[:, :10]
    assert (ids == expected).all()
    assert np.allclose(scores, np.take_along_axis(brute, expected, axis=1), atol=1e-5)


def test_build_then_load_round_trips_passages_and_vectors(config, fake_embedder):
    write_seeds(config)
    report = build_index(config, fake_embedder)
    assert report.documents == 3 and report.passages >= 3 and report.embedded == report.passages
    index = load_index(config.index.dir, "fake-embedder")
    assert index.faiss_index.ntotal == report.passages
    sentences = sum(len(index.store.doc_sentences(doc)) for doc in DOCS)
    assert index.manifest["counts"] == {"documents": 3, "passages": report.passages, "sentences": sentences}
    assert index.sentence_vectors.shape == (sentences, FakeEmbedder().dimension)
    assert set(index.titles) == set(DOCS) and index.titles["tea.md"] == "Tea"
    assert index.manifest["documents"]["whales.txt"]["sha256"]
    # Every stored passage is its document's text at its offsets, and its vector the
    # normalised mean of its sentences' embeddings; every sentence vector is its embedding.
    for pid, passage in index.store.all_passages():
        document = index.store.document(passage.doc)
        assert document.text[passage.start : passage.end] == passage.text
        members = index.store.sentences_between(passage.doc, passage.start, passage.end)
        assert members
        mean = FakeEmbedder().encode([x.text for _, x in members]).mean(axis=0)
        assert np.allclose(index.faiss_index.reconstruct(pid), mean / np.linalg.norm(mean), atol=1e-6)
        for sid, sentence in members:
            assert np.allclose(index.sentence_vectors[sid], FakeEmbedder().encode([sentence.text])[0], atol=1e-6)


def test_a_passage_cut_from_an_overlong_sentence_is_embedded_as_it_is(config, fake_embedder):
    endless = "The convoy passed " + ", ".join(f"village number {n}" for n in range(400)) + " before dawn."
    (config.seeds.dir / "endless.txt").write_text(endless, encoding="utf-8")
    build_index(config, fake_embedder)
    index = load_index(config.index.dir, "fake-embedder")
    pieces = list(index.store.all_passages())
    assert len(pieces) > 1  # the sentence is longer than a passage
    for pid, passage in pieces:
        assert np.allclose(index.faiss_index.reconstruct(pid), FakeEmbedder().encode([passage.text])[0], atol=1e-6)


def test_retriever_search_returns_the_passage_sharing_the_question_words(config, fake_embedder):
    write_seeds(config)
    build_index(config, fake_embedder)
    retriever = Retriever.open(config, fake_embedder)
    hits = retriever.search("Which volcano in Sicily is active?", 2)
    assert hits[0].passage.doc == "volcanoes.txt" and "Etna" in hits[0].passage.text
    assert hits[0].score >= hits[1].score


def test_incremental_build_reembeds_only_the_changed_document(config):
    write_seeds(config)
    build_index(config, FakeEmbedder())
    (config.seeds.dir / "tea.md").write_text("# Tea\n\nOolong tea is partly oxidised.", encoding="utf-8")
    counting = FakeEmbedder()
    report = build_index(config, counting)
    assert report.changed == ["tea.md"] and report.added == [] and report.removed == []
    assert counting.embedded == ["Oolong tea is partly oxidised."]
    assert report.embedded == 1 and report.documents == 3


def test_unchanged_rebuild_embeds_nothing_and_deleted_documents_leave(config):
    write_seeds(config)
    build_index(config, FakeEmbedder())
    (config.seeds.dir / "whales.txt").unlink()
    counting = FakeEmbedder()
    report = build_index(config, counting)
    assert counting.embedded == [] and report.removed == ["whales.txt"]
    retriever = Retriever.open(config, counting)
    assert [doc for doc, _ in retriever.documents] == ["tea.md", "volcanoes.txt"]
    assert all(h.passage.doc != "whales.txt" for h in retriever.search("blue whale krill", 10))


def test_index_of_another_model_is_refused_with_the_fix(config, fake_embedder):
    write_seeds(config)
    build_index(config, fake_embedder)
    with pytest.raises(IndexMismatchError) as err:
        Retriever.open(config, FakeEmbedder(name="other-model"))
    message = str(err.value)
    assert "manifest.json" in message and "'fake-embedder'" in message and "python -m index build" in message


def test_changing_the_model_reembeds_everything(config):
    write_seeds(config)
    first = build_index(config, FakeEmbedder())
    second = build_index(config, FakeEmbedder(name="other-model"))
    assert second.embedded == first.passages


def test_missing_index_names_the_directory_and_the_command(config, fake_embedder):
    with pytest.raises(IndexNotFoundError) as err:
        Retriever.open(config, fake_embedder)
    assert str(config.index.dir) in str(err.value) and "python -m index build" in str(err.value)


def test_build_failing_midway_leaves_the_old_index_loadable(config):
    write_seeds(config)
    build_index(config, FakeEmbedder())
    before = current_dir(config.index.dir)
    (config.seeds.dir / "new.txt").write_text("A brand new document about comets.", encoding="utf-8")
    with pytest.raises(BuildError):
        build_index(config, FakeEmbedder(fail_after=0))
    assert current_dir(config.index.dir) == before
    assert not list(config.index.dir.glob(".build-*"))
    retriever = Retriever.open(config, FakeEmbedder())
    assert len(retriever.documents) == 3
    # And the next build succeeds and picks the new document up.
    report = build_index(config, FakeEmbedder())
    assert report.added == ["new.txt"]


def test_leftover_of_a_killed_build_is_ignored_and_cleaned(config, fake_embedder):
    write_seeds(config)
    build_index(config, fake_embedder)
    junk = config.index.dir / ".build-v19990101T000000-dead00"
    junk.mkdir()
    (junk / "faiss.index").write_bytes(b"half written")
    Retriever.open(config, fake_embedder)
    build_index(config, fake_embedder)
    assert not junk.exists()


def test_truncated_faiss_file_is_reported_with_its_path(config, fake_embedder):
    write_seeds(config)
    build_index(config, fake_embedder)
    path = current_dir(config.index.dir) / "faiss.index"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(IndexCorruptError) as err:
        Retriever.open(config, fake_embedder)
    assert str(path) in str(err.value) and "python -m index build" in str(err.value)


def test_corrupt_manifest_is_reported(config, fake_embedder):
    write_seeds(config)
    build_index(config, fake_embedder)
    path = current_dir(config.index.dir) / "manifest.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorruptError) as err:
        Retriever.open(config, fake_embedder)
    assert "manifest.json" in str(err.value)


def test_old_versions_are_pruned_keeping_current_and_previous(config, fake_embedder):
    write_seeds(config)
    for text in ("one.", "two.", "three."):
        (config.seeds.dir / "x.txt").write_text(f"Version {text}", encoding="utf-8")
        build_index(config, fake_embedder)
    versions = [p for p in config.index.dir.glob("v*") if p.is_dir()]
    assert len(versions) == 2
    assert current_dir(config.index.dir) in versions


def test_seed_article_builds_with_bad_files_beside_it(config, fake_embedder):
    (config.seeds.dir / "article.txt").write_text(SEED_ARTICLE.read_text(encoding="utf-8"), encoding="utf-8")
    (config.seeds.dir / "broken.txt").write_bytes(b"\xff\xfe\x00binary")
    report = build_index(config, fake_embedder)
    assert report.documents == 1 and [s.path for s in report.skipped] == ["broken.txt"]


def test_saved_web_page_is_indexed_and_answers_quote_its_visible_text(config):
    from tests.test_documents import NEWS_PAGE

    (config.seeds.dir / "harbour.html").write_text(NEWS_PAGE, encoding="utf-8")
    report = build_index(config, FakeEmbedder())
    assert report.documents == 1 and report.skipped == []
    retriever = Retriever.open(config, FakeEmbedder())
    try:
        assert retriever.documents == [("harbour.html", "Harbour reopens after storm")]
        answer = retriever.answer("Who repaired the stone piers?")
        assert answer.answered and answer.answer == "Its stone piers were repaired by the engineer Walter Grieve & his crew."
        assert answer.sentence.title == "Harbour reopens after storm" and answer.sentence.paragraph == 2
        for extract in answer.extracts:
            assert "<" not in extract.text and "tracking" not in extract.text
    finally:
        retriever.close()


def test_pdf_is_indexed_and_answers_cite_its_title_and_paragraph(config):
    from tests.fakes import REPORT_PDF_PAGES, make_pdf

    (config.seeds.dir / "report.pdf").write_bytes(make_pdf(REPORT_PDF_PAGES, title="Harbour Report"))
    assert build_index(config, FakeEmbedder()).documents == 1
    retriever = Retriever.open(config, FakeEmbedder())
    try:
        assert retriever.documents == [("report.pdf", "Harbour Report")]
        answer = retriever.answer("When was the lighthouse automated?")
        assert answer.answered and answer.answer == "The lighthouse at the end of the north pier is 31 metres tall and was automated in 1987."
        assert answer.sentence.paragraph == 2  # the heading is not a paragraph
        assert answer.sentence.page == 1 and answer.sentence.location == "page 1, paragraph 2"
        full = retriever.paragraph("report.pdf", 2)
        assert full.text.endswith("after a storm damaged its roof.")  # carried over the page break
        assert full.page == 1
        fishing = retriever.answer("What do the fishing boats land every morning?")
        assert "herring" in fishing.answer and fishing.sentence.page == 2
        assert fishing.to_json()["extracts"][0]["page"] == 2
        title, key = retriever.summary("report.pdf")
        assert title == "Harbour Report" and key and all(k.page in (1, 2) for k in key)
    finally:
        retriever.close()


def test_unchanged_pdf_is_not_converted_again_but_a_new_converter_version_rereads_it(config, monkeypatch):
    import index.documents as documents
    from tests.fakes import REPORT_PDF_PAGES, make_pdf

    (config.seeds.dir / "report.pdf").write_bytes(make_pdf(REPORT_PDF_PAGES, title="Harbour Report"))
    build_index(config, FakeEmbedder())
    calls = []
    real = documents.pdf_to_text
    monkeypatch.setattr(documents, "pdf_to_text", lambda raw: calls.append(1) or real(raw))
    report = build_index(config, FakeEmbedder())
    assert calls == [] and report.embedded == 0 and report.changed == []
    monkeypatch.setitem(documents.READER_VERSIONS, "pdf", documents.READER_VERSIONS["pdf"] + 1)
    report = build_index(config, FakeEmbedder())
    assert calls == [1] and report.changed == ["report.pdf"] and report.embedded > 0
    retriever = Retriever.open(config, FakeEmbedder())
    try:
        answer = retriever.answer("When was the lighthouse automated?")
        assert "automated in 1987" in answer.answer and answer.sentence.page == 1
        assert retriever.answer("What do the fishing boats land every morning?").sentence.page == 2
    finally:
        retriever.close()
    build_index(config, FakeEmbedder())  # reused from the previous build, pages included
    retriever = Retriever.open(config, FakeEmbedder())
    try:
        assert retriever.answer("What do the fishing boats land every morning?").sentence.page == 2
    finally:
        retriever.close()


def test_word_file_is_indexed_and_answers_cite_its_title_and_paragraph(config):
    from tests.fakes import make_docx

    paragraphs = [("Heading1", "Harbour Report"), ("", "The old harbour was built in 1852."), ("", "The lighthouse was automated in 1987.")]
    (config.seeds.dir / "report.docx").write_bytes(make_docx(paragraphs))
    build_index(config, FakeEmbedder())
    retriever = Retriever.open(config, FakeEmbedder())
    try:
        answer = retriever.answer("When was the lighthouse automated?")
        assert answer.answered and answer.answer == "The lighthouse was automated in 1987."
        assert (answer.sentence.title, answer.sentence.location) == ("Harbour Report", "paragraph 2")
    finally:
        retriever.close()
