"""The analyst's second stage: what the index said of a whole passage, and an entry's opening
sentence credited with what its entry answers."""

from __future__ import annotations

import pytest

from contracts.work import Passage
from services.analyst.domain.naming import labelled_entries, split_label
from services.analyst.domain.statements import claim_with_code
from services.analyst.domain.synthesis import check_citations
from tests.support.synthesis import stdlib, synth

HEAP_TITLE = "Python stdlib: heapq"


# An entry whose opening sentence shares no content word with the question; the rest of the
# entry ("sorted", "reverse") is what ties it to the question.
NLARGEST = stdlib(
    "heapq",
    "nlargest(n, iterable, key=None), part 5",
    "nlargest(n, iterable, key=None)\n\nFind the n largest elements in a dataset.\n\n"
    "Equivalent to: sorted(iterable, key=key, reverse=True)[:n]",
    9.0,
)
UNRELATED = stdlib("os", "sync(), part 68", "sync()\n\nForce write of everything to disk.", 3.0)


def test_entries_number_each_heading_line_and_what_follows_it() -> None:
    text = "merge(*iterables)\n\nMerge sorted inputs. It returns an iterator.\n\nnsmallest(n, iterable)\n\nFind the n smallest."
    found = [(e.sentence, e.entry) for e in labelled_entries(text, HEAP_TITLE, "part 4")]
    assert [entry for _, entry in found] == [1, 1, 1, 2, 2]
    assert found[3][0].startswith("nsmallest(")


def test_a_member_line_of_a_summary_list_declares_its_member_and_quotes_its_description() -> None:
    text = (
        "date.fromtimestamp(timestamp, /): Create a date from a POSIX timestamp.\n\n"
        "date.fromisoformat: str -> Construct a date from a string in ISO 8601 format.\n\n"
        "date.fromisocalendar: int, int, int -> Construct a date from the ISO year, week and weekday."
    )
    found = list(labelled_entries(text, "Python stdlib: datetime", "§ class date, part 2"))
    described = {e.sentence: e.label for e in found if e.sentence.startswith("Construct")}
    assert described == {
        "Construct a date from a string in ISO 8601 format.": "`datetime.date.fromisoformat()`",
        "Construct a date from the ISO year, week and weekday.": "`datetime.date.fromisocalendar()`",
    }
    assert len({e.entry for e in found}) == 3


def test_an_entry_that_answers_puts_its_opening_sentence_in_the_report() -> None:
    question = "How do I get the top few items of an iterable without sorting all of it in reverse?"
    draft = synth(question, {question: [UNRELATED, NLARGEST]})
    labels = [split_label(c.text)[0] for c in [*draft.summary, *(c for s in draft.sections for c in s.claims)]]
    assert "heapq.nlargest" in labels, labels
    assert all("disk" not in c.text for c in draft.summary)


def test_the_summary_leads_with_the_passage_the_index_ranked_far_higher_over_a_closer_wording() -> None:
    question = "How do I recursively remove a directory tree?"

    closer = stdlib(
        "alpha", "alpha, part 1", "The alpha helpers recursively remove a directory tree, one file at a time.", 1.0
    )
    ranked = stdlib("beta", "beta, part 1", "The beta helpers remove a directory tree and every file inside it.", 10.0)
    draft = synth(question, {question: [closer, ranked]})
    cited = {s.number: s.source_id for s in draft.sources}
    assert cited[draft.summary[0].citations[0]] == "pydoc:module:beta", draft.summary


ASSERT_TOPIC = Passage(
    source_id="pydoc:topic:assert",
    title="Python reference: assert",
    location="The assert statement, part 1",
    text=(
        "Assert statements are a convenient way to insert debugging assertions\ninto a program:\n\n"
        '   assert_stmt ::= "assert" expression ["," expression]\n\n'
        'The simple form, "assert expression", is equivalent to\n\n'
        "   if __debug__:\n       if not expression: raise AssertionError\n\n"
        "The current code generator emits no code for an assert statement when optimization is requested."
    ),
    score=5.0,
)


def test_a_line_introducing_code_is_cited_with_the_code_it_states() -> None:
    question = "What is a simple assert statement equivalent to?"
    draft = synth(question, {question: [ASSERT_TOPIC]})
    claims = [c.text for c in [*draft.summary, *(c for s in draft.sections for c in s.claims)]]
    stated = (
        'The simple form, "assert expression", is equivalent to if __debug__: if not expression: raise AssertionError'
    )
    assert stated in claims, claims
    # A grammar rule is not a statement of what the construct does.
    assert not any("::=" in c for c in claims), claims
    assert check_citations(draft) == []


@pytest.mark.parametrize(
    ("lead", "code", "joined"),
    [
        ("The simple form is equivalent to", "if __debug__: raise AssertionError", True),
        ("Use it as follows:", "with open(p) as f: data = f.read()", True),
        ("The simple form is equivalent to.", "if __debug__: raise AssertionError", False),  # a sentence already
        ("Equivalent to", "x = 1", False),  # too short to stand as a claim
        ("The session looks like this:", ">>> x = 1 >>> x 1", False),  # output interleaved
        ("The rule reads as", 'stmt ::= "assert" expression', False),
        ("The simple form is equivalent to", "the statement raising an error", False),  # prose, not code
    ],
)
def test_claim_with_code_joins_only_prose_that_hands_over_to_code(lead: str, code: str, joined: bool) -> None:
    assert (claim_with_code(lead, code) == f"{lead} {code}") is joined


@pytest.mark.timeout(10)
def test_claim_with_code_gives_up_on_a_hostile_line_without_scanning_it() -> None:
    # Prose-like enough not to look like code, with an unclosed call every few words: the call
    # pattern would scan to the end from each one (quadratic, about 30 s at this size here); a line
    # past the limit is refused on its length alone.
    assert claim_with_code("The simple form is equivalent to", "alpha beta gamma a( " * 50_000) is None
