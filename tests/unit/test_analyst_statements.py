"""Statements the sentence splitter alone misses (an API's summary line, a lead with its list), other
words for a question's terms, and a later clause's "them" standing for an earlier clause's head noun."""

from __future__ import annotations

import pytest

from contracts.work import Passage, PlanInput
from services.analyst.domain.answering import Ask, coverage
from services.analyst.domain.planning import plan
from services.analyst.domain.selection import Candidate, candidates_of, summary_weights
from services.analyst.domain.statements import claim_with_list, summary_line
from services.analyst.domain.synthesis import check_citations
from services.analyst.domain.text import normalise
from tests.support.synthesis import stdlib, synth

ARGPARSE = stdlib(
    "argparse",
    "§ argparse, part 1",
    "argparse\n\nCommand-line parsing library\n\nThis module is an optparse-inspired command-line parsing "
    "library that:\n\n    - handles both optional and positional arguments\n    - produces highly informative "
    "usage messages\n\nThe following is a simple usage example::\n\n    parser = argparse.ArgumentParser()",
    10.0,
)
RMTREE = stdlib(
    "shutil",
    "§ rmtree(path, ignore_errors=False, onerror=None), part 12",
    "rmtree(path, ignore_errors=False, onerror=None)\n\nRecursively delete a directory tree.\n\n"
    "If ignore_errors is set, errors are ignored.",
    9.0,
)
SYNC = stdlib("os", "§ sync(), part 68", "sync()\n\nForce write of everything to disk.", 9.5)


def claims(question: str, passages: list[Passage]) -> list[str]:
    draft = synth(question, {question: passages})
    assert check_citations(draft) == []
    return [c.text for c in [*draft.summary, *(c for s in draft.sections for c in s.claims)]]


def test_a_module_summary_line_and_a_lead_with_its_list_are_claims_under_the_module_name() -> None:
    found = {(c.label, c.text) for c in candidates_of(0, [ARGPARSE])}
    assert ("`argparse`", "Command-line parsing library") in found, found
    lead = "This module is an optparse-inspired command-line parsing library that:"
    assert (
        "`argparse`",
        f"{lead} - handles both optional and positional arguments - produces highly informative usage messages",
    ) in found, found
    stated = claims("Which library parses optional and positional arguments on the command line?", [ARGPARSE])
    assert stated[0].startswith(f"`argparse`: {lead}"), stated


def test_an_api_summary_line_answers_in_the_documentations_words_for_the_questions() -> None:
    # "folder" is "directory" in the reference; the disk-sync entry shares only "everything".
    stated = claims("How do I delete a folder together with everything inside it?", [SYNC, RMTREE])
    assert stated[0] == "`shutil.rmtree()`: Recursively delete a directory tree.", stated


@pytest.mark.parametrize(
    ("sentence", "is_summary"),
    [
        ("Command-line parsing library", True),
        ("Recursively delete a directory tree.", True),
        ("The module contains the following public classes:", False),  # hands over to what follows
        ("x = f(y) + g[z]", False),
        ("handles both optional and positional arguments", False),  # a list item, not an opening
    ],
)
def test_summary_line_is_a_few_words_of_prose_that_say_something(sentence: str, is_summary: bool) -> None:
    assert summary_line(sentence) is is_summary


def test_a_list_joins_its_lead_only_while_its_items_follow_verbatim_and_fit_a_claim() -> None:
    text = normalise(ARGPARSE.text)
    lead = "This module is an optparse-inspired command-line parsing library that:"
    items = ["handles both optional and positional arguments", "produces highly informative usage messages"]
    joined = claim_with_list(lead, items, text)
    assert joined is not None and joined in text and joined.endswith("usage messages")
    assert claim_with_list(lead, ["an item the passage does not hold"], text) is None
    assert claim_with_list("Not a lead.", items, text) is None
    many = "A list of many things:" + "".join(f"\n- item number {n} of the list" for n in range(100))
    capped = claim_with_list(
        "A list of many things:", [f"item number {n} of the list" for n in range(100)], normalise(many)
    )
    assert capped is not None and len(capped.split()) <= 60


def test_a_term_is_held_at_a_lower_share_by_a_word_for_the_same_idea() -> None:
    ask = Ask(weights={"folder": 1.0, "delet": 1.0}, entity=frozenset(), relatives={"folder": frozenset({"directori"})})
    assert coverage(ask, {"folder", "delet"}) == 1.0
    assert 0.5 < coverage(ask, {"directori", "delet"}) < 1.0
    assert coverage(ask, {"delet"}) == 0.5


def test_them_stands_for_the_head_of_a_noun_phrase_too_long_to_name() -> None:
    question = "Why can two strings that look identical, one typed as a single character, compare unequal, and how do I make them match?"
    subs = plan(PlanInput(question=question, depth=2)).sub_questions
    assert "How do I make two strings match?" in subs, subs


def test_a_document_several_findings_come_from_weighs_more_for_the_summary() -> None:
    def finding(source: str, main_match: float) -> Candidate:
        passage = stdlib(source, "§ x, part 1", "text", 1.0)
        return Candidate("text", (passage.source_id, passage.location), passage, 0, 0, 0.0, main_match=main_match)

    lone, *several = [finding("timeit", 0.36), finding("functools", 0.3), finding("functools", 0.2)]
    weights = summary_weights([lone, *several])
    assert weights[1] > weights[0] > weights[2], weights


TEMPFILE = stdlib(
    "tempfile",
    "§ tempfile, part 1",
    "tempfile\n\nTemporary files.\n\nThis module provides generic, low- and high-level interfaces for creating "
    "temporary files and directories.",
    9.0,
)
MKSTEMP = stdlib(
    "tempfile",
    "§ mkstemp(suffix=None, prefix=None, dir=None, text=False), part 6",
    "mkstemp(suffix=None, prefix=None, dir=None, text=False)\n\n"
    "User-callable function to create and return a unique temporary file.",
    9.0,
)


@pytest.mark.parametrize(
    ("question", "leads"),
    [
        ("How do I create temporary files?", "`tempfile.mkstemp()`"),  # a means: a function
        ("Which module creates temporary files?", "`tempfile`: This module"),  # the module itself
    ],
)
def test_a_question_for_a_means_leads_with_the_kind_of_name_it_asks_for(question: str, leads: str) -> None:
    draft = synth(question, {question: [TEMPFILE, MKSTEMP]})
    assert draft.summary[0].text.startswith(leads), [c.text for c in draft.summary]


ENUM = stdlib(
    "enum",
    "§ class Enum(new_class_name, /, names, *, module, qualname, type, start), part 2",
    "class Enum(new_class_name, /, names, *, module, qualname, type, start)\n\n"
    "Create a collection of name/value pairs. Members of an enumeration can have their own attributes.",
    9.0,
)
UNIQUE = stdlib(
    "enum",
    "§ unique(enumeration), part 9",
    "unique(enumeration)\n\nenum.unique is a class decorator for enumerations ensuring unique member values.",
    9.0,
)


def test_an_entry_sentence_that_names_its_api_as_a_word_is_still_a_means() -> None:
    question = "How can I make sure no two members of an enumeration share a value?"
    draft = synth(question, {question: [ENUM, UNIQUE]})
    assert draft.summary[0].text.startswith("enum.unique is a class decorator"), [c.text for c in draft.summary]


def test_a_clause_is_not_taken_for_the_head_of_a_noun_phrase() -> None:
    question = "Which module parses the settings format that project files are written in, and what does it give back?"
    subs = plan(PlanInput(question=question, depth=2)).sub_questions
    assert not any("module parses" in s and "give back" in s for s in subs[1:]), subs
