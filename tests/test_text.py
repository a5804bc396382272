"""Sentence splitting and title shortening."""

from core.text import shorten, split_sentences


def sentences(text):
    return [text[a:b] for a, b in split_sentences(text)]


def test_split_sentences_keeps_abbreviations_and_initials_together():
    text = "Dr. J. Smith flew to the U.S. in 1990. He stayed. Y. pestis caused it."
    assert sentences(text) == ["Dr. J. Smith flew to the U.S. in 1990.", "He stayed.", "Y. pestis caused it."]


def test_split_sentences_handles_quotes_and_decimals():
    text = 'He said "It is over." Then 3.5 million left! Why? Nobody knows.'
    assert sentences(text) == ['He said "It is over."', "Then 3.5 million left!", "Why?", "Nobody knows."]


def test_split_sentences_offsets_are_absolute_within_a_window():
    text = "Intro. First one. Second one."
    start = text.index("First")
    spans = split_sentences(text, start, len(text))
    assert [text[a:b] for a, b in spans] == ["First one.", "Second one."]


def test_line_breaks_end_sentences():
    assert sentences("A heading\nBody text here. More.") == ["A heading", "Body text here.", "More."]


def test_shorten_cuts_at_a_word_boundary_with_ellipsis():
    title = shorten("ISLAMABAD: Pakistan and the United States have recognised that banned Tehreek-e-Taliban", 60)
    assert len(title) <= 60 and title.endswith("…") and not title[:-1].endswith(" ")
    assert title.startswith("ISLAMABAD: Pakistan and the United States")
    assert shorten("  Short   title ") == "Short title"
