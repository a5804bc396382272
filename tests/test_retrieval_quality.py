"""Hybrid retrieval on small fixtures: fusion, near-duplicates, the answer sentence, abstention."""

from dataclasses import replace

import pytest

from index.build import build_index
from index.lexical import LexicalIndex, question_terms, terms
from index.store import current_dir
from retrieval.abstain import Evidence, answer_confidence
from retrieval.fusion import collapse_duplicates, near_duplicates, reciprocal_rank_fusion, shingles
from retrieval.retriever import Retriever, answer_type, has_answer_type
from tests.fakes import FakeEmbedder

ARTICLE = (
    "Harbour Report\n\n"
    "The old harbour of Port Elmer was built in 1852 by the Baltic Trading Company. "
    "Its stone piers were designed by the engineer Walter Grieve.\n\n"
    "Fishing boats still land herring and cod there every morning. "
    "The fish market opens at five o'clock and closes before noon. "
    "Tourists come to watch the auctions, which are held in the covered hall. "
    "The hall was restored in 2004 after a storm damaged its roof. "
    "A small museum beside it tells the story of the herring fleet. "
    "Every summer a festival fills the quay with music, stalls and smoked fish from the islands. "
    "Local schools bring their pupils to learn how the nets are mended by hand.\n\n"
    "The lighthouse at the end of the north pier is 31 metres tall. "
    "It was automated in 1987 and no keeper has lived there since."
)
SYNDICATED = (
    "Wire Copy\n\n"
    "Fishing boats still land herring and cod there every morning. "
    "The fish market opens at five o'clock and closes before noon. "
    "Tourists come to watch the auctions, which are held in the covered hall. "
    "The hall was restored in 2004 after a storm damaged its roof. "
    "A small museum beside it tells the story of the herring fleets. "
    "Every summer a festival fills the quay with music, stalls and smoked fish from the islands. "
    "Local schools bring their pupils to learn how the nets are mended by hand.\n\n"
    "Volcanic ash closed two airports in the north of the country on Tuesday."
)


@pytest.fixture
def retriever(config):
    (config.seeds.dir / "harbour.txt").write_text(ARTICLE, encoding="utf-8")
    (config.seeds.dir / "wire.txt").write_text(SYNDICATED, encoding="utf-8")
    build_index(config, FakeEmbedder())
    r = Retriever.open(config, FakeEmbedder())
    yield r
    r.close()


# ---------------------------------------------------------------- fusion


def test_rrf_puts_items_both_rankers_found_above_items_only_one_found():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 4, 1]])
    ids = [i for i, _ in fused]
    assert set(ids[:2]) == {1, 3}
    assert ids.index(1) < ids.index(2) and ids.index(3) < ids.index(4)
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 63)


def test_rrf_of_one_ranking_keeps_its_order():
    assert [i for i, _ in reciprocal_rank_fusion([[7, 3, 9]])] == [7, 3, 9]


def test_hybrid_search_finds_a_passage_by_a_rare_word_the_dense_side_ranks_low(config):
    (config.seeds.dir / "harbour.txt").write_text(ARTICLE, encoding="utf-8")
    build_index(config, FakeEmbedder())
    settings = replace(config.retrieval, candidates=20)
    with_bm25 = Retriever.open(config, FakeEmbedder())
    hits = with_bm25.search("Grieve", 1)
    assert "Walter Grieve" in hits[0].passage.text
    assert hits[0].bm25 > 0
    dense_only = Retriever(with_bm25.index, FakeEmbedder(), replace(settings, mode="dense"))
    assert dense_only.mode == "dense" and dense_only.search("Grieve", 1)[0].bm25 == 0.0


# ---------------------------------------------------------------- near-duplicates


def test_lightly_edited_copy_is_a_near_duplicate_and_other_text_is_not():
    a = shingles("Tourists come to watch the auctions, which are held in the covered hall every day.")
    b = shingles("Tourists come to watch the auctions, which are held in the covered hall every day!")
    c = shingles("The lighthouse at the end of the north pier is 31 metres tall.")
    assert near_duplicates(a, b)
    assert not near_duplicates(a, c)


def test_collapse_duplicates_keeps_the_first_copy_in_order():
    texts = ["alpha beta gamma delta epsilon", "zeta eta theta iota kappa", "alpha beta gamma delta epsilon."]
    assert collapse_duplicates(texts, text=lambda t: t) == texts[:2]


def test_collapse_duplicates_with_a_limit_keeps_that_many_distinct_items():
    texts = ["alpha beta gamma delta", "alpha beta gamma delta!", "zeta eta theta iota", "mu nu xi omicron"]
    assert collapse_duplicates(texts, text=lambda t: t, limit=2) == [texts[0], texts[2]]


def test_syndicated_copy_never_fills_two_citation_slots(retriever):
    answer = retriever.answer("When was the hall restored after the storm damaged its roof?", top_k=3)
    assert answer.answered and "2004" in answer.answer
    texts = [e.text for e in answer.extracts]
    assert sum("restored in 2004" in t for t in texts) == 1
    for i, a in enumerate(texts):
        for b in texts[i + 1 :]:
            assert not near_duplicates(shingles(a), shingles(b))


# ---------------------------------------------------------------- the answer sentence and extracts


def test_answer_is_a_verbatim_sentence_cited_by_document_and_paragraph(retriever):
    answer = retriever.answer("How tall is the lighthouse on the north pier?")
    assert answer.answered
    assert answer.answer == "The lighthouse at the end of the north pier is 31 metres tall."
    cited = answer.sentence
    assert (cited.doc, cited.paragraph, cited.title) == ("harbour.txt", 3, "Harbour Report")
    assert ARTICLE[cited.start : cited.end] == cited.text


def test_extracts_are_whole_sentences_around_the_answer_within_the_length_limit(retriever):
    answer = retriever.answer("Who designed the stone piers of the harbour?")
    assert answer.answered and "Walter Grieve" in answer.answer
    first = answer.extracts[0]
    assert answer.answer in first.text and len(first.text) <= retriever.settings.extract_chars
    source = {"harbour.txt": ARTICLE, "wire.txt": SYNDICATED}
    for extract in answer.extracts:
        text = source[extract.doc]
        assert text[extract.start : extract.end] == extract.text
        assert extract.text[-1] in ".!?" and extract.text[0].isupper()


def test_extract_of_a_long_paragraph_is_the_sentence_with_neighbours_not_the_whole_paragraph(retriever):
    short = Retriever(retriever.index, retriever.embedder, replace(retriever.settings, extract_chars=250))
    answer = short.answer("What time does the fish market open?")
    first = answer.extracts[0]
    paragraph = short.paragraph(first.doc, first.paragraph)
    assert "opens at five" in first.text
    assert len(first.text) <= 250 < len(paragraph.text)
    assert first.text.count(". ") >= 1  # the sentence has a neighbour, and both are whole
    assert first.text.startswith("Fishing boats") or first.text.startswith("The fish market")


def test_answer_types_follow_the_question_word():
    assert answer_type("How many piers are there?") == "number"
    assert answer_type("When was the hall restored?") == "date"
    assert answer_type("In what year was it automated?") == "date"
    assert answer_type("Who designed the piers?") == "name"
    assert answer_type("Why do tourists come?") is None
    assert has_answer_type("It was automated in 1987.", "date", set())
    assert not has_answer_type("It was automated long ago.", "date", set())
    assert has_answer_type("A joint statement was issued on Monday.", "date", set())  # news dates by weekday
    assert has_answer_type("The talks were held in Washington last week.", "date", set())
    assert has_answer_type("The market reopened three days ago.", "date", set())
    assert has_answer_type("The piers were designed by Walter Grieve.", "name", {"who", "designed", "piers"})
    assert not has_answer_type("The piers were designed by him.", "name", set())


def test_coverage_weighs_rare_question_words_above_common_ones():
    lexical = LexicalIndex.build(["the harbour piers", "the harbour market", "the harbour lighthouse keeper"])
    q = terms("harbour lighthouse")
    assert lexical.coverage(q, terms("a lighthouse")) > lexical.coverage(q, terms("a harbour"))
    assert lexical.coverage(q, terms("harbour lighthouse")) == pytest.approx(1.0)
    assert lexical.known_share(terms("volcano lighthouse")) < 1.0


def test_event_phrasing_is_not_counted_as_what_a_question_asks_about():
    # "take place" and "happen" are how a question asks, not what about; a document says "held".
    assert question_terms("When did the festival take place?") == terms("When did the festival?")
    assert question_terms("What happened at the harbour in 1852?") == terms("What at the harbour in 1852?")
    assert question_terms("Where does the auction occur?") == terms("Where does the auction?")
    assert question_terms("Who designed the stone piers?") == terms("Who designed the stone piers?")
    assert terms("The market took place in the hall.") != terms("The market in the hall.")  # documents keep them


def test_a_question_asking_when_something_took_place_is_answered(retriever):
    answer = retriever.answer("When did the restoration of the hall take place?")
    assert answer.answered and "2004" in answer.answer


def test_bm25_saved_at_build_time_scores_exactly_like_one_built_from_the_texts(tmp_path):
    texts = [p for p in ARTICLE.split(". ")] + ["", "1852 1852 1852"]
    built = LexicalIndex.build(texts)
    built.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25", passages=len(texts))
    for question in ("Who designed the stone piers?", "harbour 1852", "lighthouse keeper automated", "volcano"):
        q = terms(question)
        assert loaded.search(q, 5) == built.search(q, 5)
        assert loaded.known_share(q) == pytest.approx(built.known_share(q))
        for t in q:
            assert loaded.idf(t) == pytest.approx(built.idf(t))


def test_bm25_of_another_index_size_is_refused_as_corrupt(tmp_path):
    from core.errors import IndexCorruptError

    LexicalIndex.build(["one passage", "two passages"]).save(tmp_path / "bm25")
    with pytest.raises(IndexCorruptError, match="does not match the index's 3 passages"):
        LexicalIndex.load(tmp_path / "bm25", passages=3)


def test_index_of_the_previous_format_still_answers_with_bm25_built_on_open(config):
    import json
    import shutil

    (config.seeds.dir / "harbour.txt").write_text(ARTICLE, encoding="utf-8")
    build_index(config, FakeEmbedder())
    version = current_dir(config.index.dir)
    shutil.rmtree(version / "bm25")
    manifest = json.loads((version / "manifest.json").read_text())
    (version / "manifest.json").write_text(json.dumps({**manifest, "format": 2}))
    r = Retriever.open(config, FakeEmbedder())
    try:
        assert r.search("Walter Grieve", 1)[0].bm25 > 0
    finally:
        r.close()


# ---------------------------------------------------------------- abstention


def test_declines_a_question_about_something_the_documents_never_mention(retriever):
    answer = retriever.answer("What is the capital of France?")
    assert not answer.answered and answer.answer is None and answer.sentence is None
    assert answer.candidate is not None  # the closest sentence is still known, and extracts are shown
    assert answer.extracts and answer.confidence < retriever.settings.min_confidence


def test_answers_when_the_documents_do_answer(retriever):
    answer = retriever.answer("When was the lighthouse automated and left without a keeper?")
    assert answer.answered and "1987" in answer.answer
    assert answer.confidence >= retriever.settings.min_confidence


def test_confidence_rises_with_each_kind_of_evidence():
    weak = Evidence(sentence_cosine=0.2, passage_cosine=0.2, sentence_coverage=0.1, passage_coverage=0.2, known_share=0.5)
    assert answer_confidence(weak) < 0.1
    for name in ("sentence_cosine", "passage_cosine", "sentence_coverage", "passage_coverage"):
        stronger = replace(weak, **{name: getattr(weak, name) + 0.3})
        assert answer_confidence(stronger) > answer_confidence(weak), name
    strong = Evidence(sentence_cosine=0.7, passage_cosine=0.7, sentence_coverage=0.8, passage_coverage=0.9, known_share=1.0)
    assert answer_confidence(strong) > 0.9


def test_min_confidence_setting_moves_the_decision(retriever):
    question = "When was the lighthouse automated and left without a keeper?"
    assert retriever.answer(question).answered
    strict = Retriever(retriever.index, retriever.embedder, replace(retriever.settings, min_confidence=1.0))
    assert not strict.answer(question).answered


# ---------------------------------------------------------------- sentences that refer back


def test_refers_back_spots_a_pronoun_among_the_first_words():
    from retrieval.retriever import refers_back

    assert refers_back("It was automated in 1987.")
    assert refers_back("In this way, they might be considered coercive.")
    assert not refers_back("The lighthouse at the end of the north pier is 31 metres tall.")


def test_a_pronoun_led_sentence_can_be_the_answer(retriever):
    answer = retriever.answer("In what year was the lighthouse automated?")
    assert answer.answered and answer.answer == "It was automated in 1987 and no keeper has lived there since."
