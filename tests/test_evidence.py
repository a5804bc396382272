"""The new evidence: names the documents lack, the runner-up margin, ranking agreement,
answer kinds held specifically, and how sure the bot says it is."""

from dataclasses import replace

import pytest

from index.build import build_index
from index.chunk import Sentence
from index.lexical import LexicalIndex, terms
from retrieval.abstain import Evidence, answer_confidence
from retrieval.answer_type import answer_cue, answer_type
from retrieval.confidence import CONFIDENT, DECLINED, TENTATIVE, confidence_label, confidence_level
from retrieval.evidence import margin, missing_share, question_entities, reciprocal_rank, unknown_share
from retrieval.retriever import Answer, Extract, Retriever, ScoredSentence, choose_sentence, dated_in_paragraph
from tests.fakes import FakeEmbedder

NEWS = (
    "Harbour Talks\n\n"
    "The harbour boards held the talks in Geneva last week and issued a joint statement on Monday. "
    "The talks were chaired by Ingrid Dahl on May 10.\n\n"
    "The boards agreed to share dredging equipment and to train 40 pilots. "
    "The next round of harbour talks is planned in Oslo."
)


# ---------------------------------------------------------------- names in the question


def test_question_entities_are_the_names_and_numbers_after_the_question_word():
    assert question_entities("Who coached the Panthers in 2015?") == ["panthers", "2015"]
    assert question_entities("Which ISIS branch was named in the statement?") == ["isis"]
    assert question_entities("When was the dialogue held?") == []
    assert question_entities("How many Pakistani police did the Americans train?") == ["pakistani", "americans"]


def test_a_name_counts_as_present_when_its_index_terms_are_so_a_demonym_meets_its_country():
    present = set(terms("Pakistan and the United States held talks"))
    assert missing_share(["pakistani"], present) == 0.0  # "Pakistani" meets "Pakistan"
    assert missing_share(["kuechly", "pakistani"], present) == 0.5
    assert missing_share([], present) == 0.0  # a question without names misses none


def test_unknown_share_is_the_share_of_names_no_document_uses():
    lexical = LexicalIndex.build(["The lighthouse keeper of Port Elmer", "Herring boats land at dawn"])
    assert unknown_share(["elmer"], lexical.known) == 0.0
    assert unknown_share(["elmer", "kuechly"], lexical.known) == 0.5
    assert unknown_share([], lexical.known) == 0.0


def test_reciprocal_rank_and_margin():
    assert reciprocal_rank(0) == 1.0 and reciprocal_rank(1) == 0.5 and reciprocal_rank(None) == 0.0
    assert margin(1.4, 1.1) == pytest.approx(0.3)
    assert margin(2.5, 0.5) == 1.0  # capped
    assert margin(0.7, None) == 1.0  # nothing else competed


# ---------------------------------------------------------------- the abstention model


BASE = Evidence(sentence_cosine=0.55, passage_cosine=0.6, sentence_coverage=0.5, passage_coverage=0.6, known_share=0.9,
                entity_missing=0.0, entity_unknown=0.0, margin=0.2, dense_rank=1.0, lexical_rank=1.0)


def test_confidence_falls_when_the_question_names_something_the_chosen_document_never_mentions():
    assert answer_confidence(replace(BASE, entity_missing=1.0)) < answer_confidence(BASE)


def test_confidence_rises_when_the_best_sentence_stands_out_and_both_rankings_agree():
    assert answer_confidence(replace(BASE, margin=0.6)) > answer_confidence(BASE)
    assert answer_confidence(BASE) > answer_confidence(replace(BASE, dense_rank=0.1, lexical_rank=0.1))


def test_evidence_lists_every_signal_in_the_order_of_the_model_weights():
    from retrieval.abstain import WEIGHTS

    assert len(Evidence.fields()) == len(WEIGHTS) == len(BASE.vector())
    assert Evidence.fields()[:5] == ("sentence_cosine", "passage_cosine", "sentence_coverage", "passage_coverage", "known_share")


@pytest.fixture
def retriever(config):
    (config.seeds.dir / "talks.txt").write_text(NEWS, encoding="utf-8")
    build_index(config, FakeEmbedder())
    r = Retriever.open(config, FakeEmbedder())
    yield r
    r.close()


def _evidence(retriever, question):
    from index.lexical import question_terms

    text = " ".join(question.split())
    vector = retriever.embedder.encode([text])[0]
    q_terms = question_terms(text)
    hits = retriever._rank(vector, q_terms, 20)
    scored = retriever.score_sentences(text, vector, q_terms, hits)
    best = choose_sentence(scored, answer_type(text))
    return retriever.evidence(text, best, scored, hits, q_terms)


def test_retriever_evidence_sees_names_the_collection_lacks(retriever):
    known = _evidence(retriever, "Who chaired the harbour talks in Geneva?")
    unknown = _evidence(retriever, "Who chaired the harbour talks in Kuechly?")
    assert known.entity_missing == 0.0 and known.entity_unknown == 0.0
    assert unknown.entity_missing == 1.0 and unknown.entity_unknown == 1.0
    assert 0.0 < known.dense_rank <= 1.0 and 0.0 < known.lexical_rank <= 1.0 and known.margin > 0.0


def test_rank_among_places_a_value_among_the_others_highest_first():
    from retrieval.evidence import rank_among

    assert rank_among([0.9, 0.5, 0.7], 0) == 0 and rank_among([0.9, 0.5, 0.7], 1) == 2
    assert rank_among([0.5, 0.5], 1) == 0  # ties share the better place


# ---------------------------------------------------------------- answer kinds, specifically


def test_answer_kinds_follow_the_question():
    assert answer_type("Where were the talks held?") == "place"
    assert answer_type("In which city did they meet?") == "place"
    assert answer_type("When were the talks held?") == "date"
    assert answer_type("What did they agree?") is None


def test_an_explicit_date_is_a_stronger_cue_than_a_relative_one():
    q = {"when", "were", "the", "talks", "held"}
    assert answer_cue("The talks were chaired by Ingrid Dahl on May 10 in Geneva.", "date", q) == 1.0
    assert answer_cue("The boards held talks in Geneva last week.", "date", q) == 0.5
    assert answer_cue("The boards held talks in Geneva.", "date", q) == 0.0
    assert answer_cue("Officials may attend.", "date", q) == 0.0  # "may" is not the month
    assert answer_cue("The next round is planned in Oslo.", "place", {"where"}) == 1.0
    assert answer_cue("The next round is planned soon.", "place", {"where"}) == 0.0


def _scored(i: int, text: str, score: float, cue: float, paragraph: int = 1, coverage: float = 0.5) -> ScoredSentence:
    return ScoredSentence(i, Sentence("d.txt", paragraph, 0, len(text), text), 0, 0.5, coverage, 1.0, cue, 0.0, 0.0, score)


def test_a_close_sentence_with_an_explicit_date_wins_over_a_relative_date_for_when():
    relative = _scored(1, "They met last week.", 1.2, 0.5)
    explicit = _scored(2, "They met on May 10.", 1.0, 1.0)
    far = _scored(3, "They met in 1990.", 0.5, 1.0)
    assert choose_sentence([relative, explicit, far], "date") is explicit
    assert choose_sentence([relative, far], "date") is relative  # too far below to take over
    assert choose_sentence([relative, explicit], None) is relative  # no kind asked: the score decides


def test_a_relative_date_hands_over_to_an_explicit_date_in_its_paragraph_however_far_below():
    relative = _scored(1, "The boards held talks in Geneva last week.", 1.9, 0.5)
    dated = _scored(2, "Ingrid Dahl chaired the talks on May 10.", 1.0, 1.0)
    assert dated_in_paragraph(relative, [relative, dated], "date") is dated


def test_a_relative_date_keeps_the_answer_when_the_dated_sentence_is_elsewhere_or_off_topic():
    relative = _scored(1, "The boards held talks in Geneva last week.", 1.9, 0.5)
    other_paragraph = _scored(2, "The treaty was signed in May 1990.", 1.0, 1.0, paragraph=2)
    no_shared_term = _scored(3, "Prices rose in March.", 1.0, 1.0, coverage=0.0)
    assert dated_in_paragraph(relative, [relative, other_paragraph, no_shared_term], "date") is relative
    assert dated_in_paragraph(relative, [relative, _scored(4, "On May 10.", 1.0, 1.0)], None) is relative  # not a "when" question


def test_a_sentence_without_any_date_does_not_hand_over_to_a_dated_neighbour():
    undated = _scored(1, "The boards held talks in Geneva.", 1.9, 0.0)
    dated = _scored(2, "Ingrid Dahl chaired the talks on May 10.", 1.0, 1.0)
    assert dated_in_paragraph(undated, [undated, dated], "date") is undated


def test_when_question_worded_like_the_last_week_sentence_is_answered_with_the_date_of_its_paragraph(retriever):
    # "harbour", "boards", "Geneva" are only in the "last week" sentence; "May 10" is in the next one.
    answer = retriever.answer("When did the harbour boards hold the Geneva talks?")
    assert answer.candidate is not None and "May 10" in answer.candidate.text
    assert "May 10" in answer.extracts[0].text


def test_when_question_on_news_is_answered_with_the_explicit_date(retriever):
    # "last week" scores a little higher (it shares "held" with the question); "May 10" answers.
    answer = retriever.answer("When did the boards hold the talks?")
    assert answer.candidate is not None and "May 10" in answer.candidate.text


# ---------------------------------------------------------------- how sure, in words


def test_confidence_levels_and_their_words():
    assert confidence_level(0.9, answered=True, high=0.7) == CONFIDENT
    assert confidence_level(0.5, answered=True, high=0.7) == TENTATIVE
    assert confidence_level(0.9, answered=False, high=0.7) == DECLINED
    assert confidence_label(CONFIDENT) is None
    assert "possibly not an answer" in confidence_label(TENTATIVE).lower()
    assert confidence_label(DECLINED).startswith("Not answered")


def test_answer_json_names_the_level_and_its_words():
    sentence = Extract("d.txt", "D", 1, "They met on May 10.", 0.9, 0, 19)
    tentative = Answer("When?", True, sentence, [sentence], 0.5, sentence, level=TENTATIVE).to_json()
    assert tentative["confidence_level"] == "tentative" and "possibly not an answer" in tentative["confidence_label"].lower()
    confident = Answer("When?", True, sentence, [sentence], 0.95, sentence, level=CONFIDENT).to_json()
    assert confident["confidence_level"] == "confident" and confident["confidence_label"] is None
    declined = Answer("When?", False, None, [sentence], 0.1, sentence, level=DECLINED).to_json()
    assert declined["confidence_level"] == "declined" and declined["confidence_label"].startswith("Not answered")


def test_retriever_marks_answers_between_the_two_thresholds_as_tentative(retriever):
    question = "Who chaired the harbour talks in Geneva?"
    sure = Retriever(retriever.index, retriever.embedder, replace(retriever.settings, min_confidence=0.0, high_confidence=0.0))
    unsure = Retriever(retriever.index, retriever.embedder, replace(retriever.settings, min_confidence=0.0, high_confidence=1.0))
    assert sure.answer(question).confidence_level == CONFIDENT
    assert unsure.answer(question).confidence_level == TENTATIVE and unsure.answer(question).answered


def test_terminal_and_bot_show_the_caution_only_for_a_tentative_answer():
    from bot import render
    from retrieval.__main__ import format_text

    sentence = Extract("d.txt", "D", 1, "They met on May 10.", 0.9, 0, 19)
    tentative = Answer("When?", True, sentence, [sentence], 0.5, sentence, level=TENTATIVE)
    confident = Answer("When?", True, sentence, [sentence], 0.95, sentence, level=CONFIDENT)
    label = confidence_label(TENTATIVE)
    assert label in format_text(tentative) and label not in format_text(confident)
    assert label in render.answer_head(tentative) and label not in render.answer_head(confident)
    declined = Answer("When?", False, None, [sentence], 0.1, sentence, level=DECLINED)
    assert format_text(declined).startswith("Not answered")
