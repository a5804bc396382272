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


def test_chinese_sentences_end_at_full_width_punctuation_without_a_space():
    text = "黑豹队的防守丢了308分。他们还领先联盟！谁是四分卫？佩顿·曼宁。"
    assert sentences(text) == ["黑豹队的防守丢了308分。", "他们还领先联盟！", "谁是四分卫？", "佩顿·曼宁。"]


def test_sentences_in_scripts_without_capitals_are_split_too():
    arabic = "قال الرئيس إن الحوار مهم. ذهب الوزير إلى القاهرة؟ نعم."
    assert sentences(arabic) == ["قال الرئيس إن الحوار مهم.", "ذهب الوزير إلى القاهرة؟", "نعم."]
    hindi = "यह पहला वाक्य है। यह दूसरा है।"
    assert sentences(hindi) == ["यह पहला वाक्य है।", "यह दूसरा है।"]
    russian = "Он сказал. Потом ушёл. В 1990 г. всё изменилось."
    assert sentences(russian) == ["Он сказал.", "Потом ушёл.", "В 1990 г. всё изменилось."]


def test_words_of_unspaced_scripts_are_character_pairs_and_other_scripts_stay_whole():
    from core.text import words

    assert words("黑豹队的防守") == ["黑豹", "豹队", "队的", "的防", "防守"]
    assert words("Jared Allen 在 2015 年") == ["jared", "allen", "在", "2015", "年"]
    assert words("Сколько очков уступила защита?") == ["сколько", "очков", "уступила", "защита"]
    assert words("Who won Super Bowl 50?") == ["who", "won", "super", "bowl", "50"]
