"""Chunking: exact offsets, passage limits, paragraph numbering, titles."""

from pathlib import Path

from hypothesis import given, settings, strategies as st

from index.chunk import ChunkSettings, chunk_document, split_paragraphs
from tests.fakes import SEED_ARTICLE

SETTINGS = ChunkSettings(passage_chars=300, min_paragraph_chars=80, overlap_sentences=1)


def test_passages_of_the_seed_article_map_back_to_the_source_exactly():
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    title, passages = chunk_document("seed.txt", text, ChunkSettings())
    assert passages
    for p in passages:
        assert text[p.start : p.end] == p.text
        assert len(p.text) <= 600
    covered = "".join(text[p.start : p.end] for p in passages)
    # Every paragraph's words reach some passage.
    for line in text.splitlines():
        assert line.strip()[:40] in covered


def test_seed_article_title_is_its_first_line_shortened():
    title, paragraphs = split_paragraphs(SEED_ARTICLE.read_text(encoding="utf-8"))
    assert title.startswith("ISLAMABAD: Pakistan and the United States") and len(title) <= 80
    # The first line is the lede, so it is paragraph 1, not dropped as a title.
    assert paragraphs[0].number == 1 and len(paragraphs) == 9


def test_title_line_above_a_blank_line_is_not_a_paragraph():
    text = "Black Death\n\nFirst paragraph here.\n\nSecond paragraph here."
    title, paragraphs = split_paragraphs(text)
    assert title == "Black Death"
    assert [text[p.start : p.end] for p in paragraphs] == ["First paragraph here.", "Second paragraph here."]


def test_markdown_heading_is_the_title_and_wrapped_lines_form_one_paragraph():
    text = "# Annual report\n\nThis paragraph is hard\nwrapped over three\nshort lines.\n\n## Section\n\nAnother one."
    title, paragraphs = split_paragraphs(text)
    assert title == "Annual report"
    assert [text[p.start : p.end] for p in paragraphs] == [
        "This paragraph is hard\nwrapped over three\nshort lines.",
        "Another one.",
    ]


def test_long_paragraph_is_split_at_sentences_with_overlap():
    sentences = [f"Sentence number {i} talks about topic {i} in some detail." for i in range(20)]
    text = " ".join(sentences)
    _, passages = chunk_document("d", text, SETTINGS)
    assert len(passages) > 2
    for p in passages:
        assert len(p.text) <= 300
        assert p.text.startswith("Sentence") and p.text.endswith(".")
        assert p.paragraph == 1
    # Consecutive passages share a sentence.
    for a, b in zip(passages, passages[1:]):
        assert b.start < a.end


def test_tiny_paragraphs_are_merged_until_they_fit():
    text = "One.\nTwo is short.\nThree too.\n" + "Long paragraph sentence. " * 11
    _, passages = chunk_document("d", text, SETTINGS)
    assert passages[0].paragraph == 1 and passages[0].paragraph_end == 3
    assert passages[0].text == "One.\nTwo is short.\nThree too."


def test_a_sentence_longer_than_the_limit_is_cut_at_spaces():
    text = "word " * 200
    _, passages = chunk_document("d", text.strip(), SETTINGS)
    assert all(len(p.text) <= 300 for p in passages)
    assert "".join(p.text.replace(" ", "") for p in passages).count("word") >= 200


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from(list("abcXYZ .!?\n\t\r—“”'")), min_size=0, max_size=400),
        min_size=1,
        max_size=8,
    ),
    st.integers(min_value=100, max_value=400),
)
def test_any_text_chunks_within_the_limit_with_exact_offsets(parts, limit):
    text = "\n\n".join(parts)
    settings_ = ChunkSettings(passage_chars=limit, min_paragraph_chars=limit // 3, overlap_sentences=1)
    _, passages = chunk_document("d", text, settings_)
    for p in passages:
        assert text[p.start : p.end] == p.text
        assert 0 < len(p.text) <= limit
        assert p.text == p.text.strip()
