"""Follow-up questions in retrieval: the decision, the turn record, and answers with and without context."""

from __future__ import annotations

import numpy as np
import pytest

from index.build import build_index
from index.chunk import Passage
from index.lexical import question_terms
from dataclasses import replace

from index.lexical import TermWeights
from retrieval.followup import ALONE, FOLLOW, GATED, InheritedWeights, Prior, Turn, context_vector, is_follow_up, reading
from retrieval.followup_cues import ENGLISH
from retrieval.retriever import Retriever
from tests.fakes import FakeEmbedder, write_config

HARBOUR = """# Harbour Talks

The harbour talks were co-chaired by Ines Duarte and Tomas Berg, the two port directors.

The talks were held in the city of Valletta on 12 June, in the old customs house by the quay.

The ferry union asked for longer docking hours for the night boats and a new waiting room.
"""

ORCHARD = """# Orchard Notes

The orchard cooperative planted four hundred pear trees on the hill above the village.

Beekeepers moved thirty hives into the orchard when the blossoms opened in April.

The orchard fair, with pear tastings and beekeeping stalls, was held in the city of Mdina in May.
"""


def decide(question: str, confidence: float) -> bool:
    return is_follow_up(question, question_terms(question), confidence)


@pytest.mark.parametrize(
    "question",
    ["And when was it held?", "Why?", "And by 2000?", "What about Holden?", "How many did he give?", "What nationality is he?", "In what year?"],
)
def test_fragments_and_questions_leaning_on_a_pronoun_are_follow_ups(question):
    assert decide(question, confidence=0.95)


@pytest.mark.parametrize(
    "question",
    [
        "How many square kilometres of the Amazon forest had been lost by 2000?",
        "When did Honda, Toyota and Nissan open US assembly plants?",
        "How many examination boards are there in India?",  # "there" after "are" points nowhere
        "What did Martin Luther say about the Jews in his later writings?",  # its pronoun is inside it
    ],
)
def test_questions_that_stand_on_their_own_are_not_follow_ups(question):
    assert not decide(question, confidence=0.9)


def test_a_bare_question_is_a_follow_up_only_when_it_finds_little_alone():
    assert decide("Where did the ferry stop?", confidence=0.1)
    assert not decide("Where did the ferry stop?", confidence=0.95)


@pytest.mark.parametrize(
    "question, read",
    [
        ("And when was it held?", FOLLOW),  # a pronoun, one topic word: whatever it finds alone
        ("Why?", FOLLOW),
        ("What would the new company have been called?", GATED),  # a definite description: only if it finds little alone
        ("For which nation did he claim the area around the river?", GATED),  # a pronoun but five topic words
        ("What did Martin Luther say about the Jews in his later writings?", ALONE),  # its pronoun is inside it
        ("How many pear trees did the orchard cooperative plant on the hill above the village?", ALONE),
    ],
)
def test_reading_is_decided_before_any_search(question, read):
    assert reading(question, question_terms(question)) == read


def test_inherited_terms_count_at_their_weight_in_word_coverage():
    class Flat(TermWeights):
        def idf(self, term):
            return 1.0

        def known(self, term):
            return True

    weights = InheritedWeights(Flat(), inherited=["talks", "harbour"], weight=0.25)
    question = ["city", "talks", "harbour"]  # the question's own term first, then the inherited ones
    assert weights.coverage(question, ["city"]) == pytest.approx(1 / 1.5)
    assert weights.coverage(question, ["talks", "harbour"]) == pytest.approx(0.5 / 1.5)  # the previous answer's words
    assert weights.known_share(question) == 1.0


def test_refers_back_ignores_existential_there():
    assert ENGLISH.refers_back("Who lived there?")
    assert not ENGLISH.refers_back("Are there any pear trees?")


def test_turn_round_trips_through_json_and_refuses_damaged_records():
    turn = Turn("Who co-chaired the talks?", ("chair", "talks"), (0.6, 0.8), "harbour.md", 2)
    again = Turn.from_json(turn.to_json())
    assert again == turn
    for junk in (None, "text", {"terms": []}, {"question": 7}, {"question": "q", "paragraph": "2"}, {"question": "q", "vector": ["x"]}):
        assert Turn.from_json(junk) is None


def test_context_vector_mixes_in_the_previous_query_and_ignores_one_of_another_size():
    q = np.array([1.0, 0.0], dtype=np.float32)
    mixed = context_vector(q, Turn("q", (), (0.0, 1.0)), weight=1.0)
    assert np.allclose(mixed, [np.sqrt(0.5), np.sqrt(0.5)])
    assert context_vector(q, Turn("q", (), (0.0, 1.0, 0.0)), weight=1.0) is q


def test_prior_puts_the_cited_paragraph_first_then_its_neighbours():
    passages = [(10 + n, Passage("d", n, n, 0, 1, "x")) for n in range(1, 6)]
    prior = Prior.near(passages, paragraph=3, weight=1.0)
    order = sorted(prior.bonus, key=prior.bonus.get, reverse=True)
    assert order[0] == 13 and set(order[1:3]) == {12, 14} and set(order[3:]) == {11, 15}
    reranked = [i for i, _ in prior.rerank([(99, 0.02), (11, 0.02)], fused=True)]
    assert reranked[0] == 11 and reranked.index(99) < reranked.index(13)  # a boost, not an override
    assert set(reranked) == {99, 11, 12, 13, 14, 15}  # passages the rankers missed come in with the prior


@pytest.fixture
def retriever(tmp_path):
    config = write_config(tmp_path)
    (tmp_path / "seeds" / "harbour.md").write_text(HARBOUR, encoding="utf-8")
    (tmp_path / "seeds" / "orchard.md").write_text(ORCHARD, encoding="utf-8")
    embedder = FakeEmbedder(dimension=1024)
    build_index(config, embedder)
    retriever = Retriever.open(config, embedder)
    yield retriever
    retriever.close()


def test_follow_up_is_answered_from_what_the_previous_turn_was_about(retriever):
    first = retriever.answer("Who co-chaired the harbour talks?")
    assert first.answered and "Ines Duarte" in first.answer
    assert first.turn.doc == "harbour.md" and first.turn.paragraph == 1 and first.context is None

    later = retriever.answer("Which city was it held in?", context=first.turn)
    assert later.context == first.turn
    assert later.answered and "Valletta" in later.answer
    assert later.turn.terms[:2] == ("city", "held") and later.turn.doc == "harbour.md"

    # The same words after a question about the orchard find the orchard's city.
    fair = retriever.answer("What stalls did the orchard fair have?")
    assert fair.answered and fair.turn.doc == "orchard.md"
    elsewhere = retriever.answer("Which city was it held in?", context=fair.turn)
    assert elsewhere.context == fair.turn and "Mdina" in elsewhere.answer
    assert set(first.turn.terms) <= set(later.turn.terms)  # the topic carries on to a third turn


class CountingIndex:
    """The retriever's index store, counting searches."""

    def __init__(self, inner):
        self.inner = inner
        self.searches = 0

    def rank(self, *args, **kwargs):
        self.searches += 1
        return self.inner.rank(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_question_is_searched_once_unless_its_reading_depends_on_what_it_finds_alone(retriever):
    first = retriever.answer("Who co-chaired the harbour talks?")
    counting = retriever.index = CountingIndex(retriever.index)

    later = retriever.answer("Which city was it held in?", context=first.turn)
    assert later.context == first.turn and counting.searches == 1

    counting.searches = 0
    new_topic = retriever.answer("How many pear trees did the orchard cooperative plant on the hill above the village?", context=first.turn)
    assert new_topic.context is None and counting.searches == 1

    # "the talks": read as a follow-up only if, answered alone, it finds little.
    question = "Where were the talks held?"
    retriever.follow_up = replace(retriever.follow_up, gate_confidence=0.0)  # it never finds too little
    counting.searches = 0
    assert retriever.answer(question, context=first.turn).context is None and counting.searches == 1
    retriever.follow_up = replace(retriever.follow_up, gate_confidence=1.01)  # it always does
    counting.searches = 0
    assert retriever.answer(question, context=first.turn).context == first.turn and counting.searches == 2


def test_follow_up_the_documents_do_not_answer_is_declined(retriever):
    first = retriever.answer("Who co-chaired the harbour talks?")
    later = retriever.answer("How old is she?", context=first.turn)
    assert later.context == first.turn and not later.answered and later.answer is None
    assert later.extracts  # the closest passages are still shown


def assert_answered_as_alone(retriever, first_question: str, question: str):
    """``question`` asked after ``first_question`` gets exactly the reply it gets alone; returns it."""
    first = retriever.answer(first_question)
    alone = retriever.answer(question)
    after = retriever.answer(question, context=first.turn)
    assert after.context is None
    assert (after.answered, after.candidate, after.extracts, after.confidence) == (alone.answered, alone.candidate, alone.extracts, alone.confidence)
    return after


def test_new_topic_is_answered_exactly_as_alone(retriever):
    question = "How many pear trees did the orchard cooperative plant on the hill above the village?"
    after = assert_answered_as_alone(retriever, "Who co-chaired the harbour talks?", question)
    assert "four hundred pear trees" in after.answer


def test_an_off_topic_question_that_finds_nothing_either_way_is_not_called_a_follow_up(retriever):
    first = retriever.answer("Who co-chaired the harbour talks?")
    question = "What does the manual say about quantum chromodynamics lattices?"  # "the manual": a gated reading
    alone = retriever.answer(question)
    after = retriever.answer(question, context=first.turn)
    assert not alone.answered
    assert after.context is None  # no "Taking this as a follow-up to: ..." line
    assert (after.answered, after.extracts) == (alone.answered, alone.extracts)
