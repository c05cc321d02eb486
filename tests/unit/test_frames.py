"""Words that frame a question are told from words that name what it asks about."""

from __future__ import annotations

import pytest

from quarry_text.frames import WEIGHT, framing
from services.retriever.domain.lexical import in_context, own_terms


@pytest.mark.parametrize(
    ("question", "frames"),
    [
        ("What is the difference between is and == in Python?", {"differenc"}),
        ("What does -> mean in a function definition?", {"mean"}),
        ("How does the with statement work in Python?", {"work"}),
        ("How do lists and tuples differ?", {"differ"}),
        ("How can I tell whether a year is a leap year?", {"tell"}),
        # the same words naming what is asked about
        ("What is the arithmetic mean of a list?", set()),
        ("What does statistics.mean return?", set()),
        ("How do I compute the set difference of two sets?", set()),
    ],
)
def test_framing_words_are_found_only_in_the_constructions_that_frame(question: str, frames: set[str]) -> None:
    assert framing(question) == frames


def test_a_search_weighs_framing_below_what_the_question_names() -> None:
    weights = own_terms("What does -> mean in a function definition?")
    assert weights["mean"] == WEIGHT and weights["->"] == 1.0 and weights["definition"] == 1.0
    # a sub-question's context does not bring the question's frame back in at context weight
    assert "differenc" not in in_context("What is is?", "What is the difference between is and ==?")


@pytest.mark.timeout(5)
def test_a_long_hostile_question_is_read_in_bounded_time() -> None:
    assert framing("what does " + "x mean " * 100_000 + "?") <= {"mean"}
