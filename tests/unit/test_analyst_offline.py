"""The analyst's offline brain: planning and sentence handling."""

from __future__ import annotations

from pydoc_data.topics import topics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.work import PlanInput
from services.analyst.domain.planning import information, plan
from services.analyst.domain.text import (
    cosine,
    is_claim_sentence,
    looks_like_code,
    normalise,
    split_sentences,
    stem,
    tokenize,
    vector,
)
from tests.support.synthesis import BOUNDS, QUESTIONS, WITH_Q

# --- planning ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_plan_stays_within_the_depth_and_each_sub_question_adds_information(question: str, depth: int) -> None:
    subs = plan(PlanInput(question=question, depth=depth)).sub_questions
    assert 1 <= len(subs) <= BOUNDS[depth][1], subs
    assert len({s.lower().rstrip("?") for s in subs}) == len(subs), subs
    assert all(s.strip() for s in subs)
    if question:
        assert subs[0] == question
    # Past the question itself, no two sub-questions search for the same terms.
    assert len({information(s) for s in subs[1:]}) == len(subs[1:]), subs


def test_plan_depth_is_monotonic_and_prefix_stable() -> None:
    plans = [plan(PlanInput(question="Compare PostgreSQL and MySQL", depth=d)).sub_questions for d in (1, 2, 3)]
    assert [len(p) for p in plans] == [3, 4, 4]
    assert plans[1][: len(plans[0])] == plans[0]
    assert plans[2][: len(plans[1])] == plans[1]


def test_plan_splits_compound_question_into_its_clauses() -> None:
    subs = plan(PlanInput(question=WITH_Q, depth=1)).sub_questions
    assert subs == [WITH_Q, "How does the with statement work in Python?", "What are context managers?"]
    deeper = plan(PlanInput(question=WITH_Q, depth=3)).sub_questions
    # "What is the with statement in Python?" would search for what the first clause already does.
    assert deeper == subs


def test_plan_pads_no_sub_question_that_only_rewords_the_question() -> None:
    asked = "How do I encode Python objects as JSON text and decode them back?"
    # Its two steps are searches of their own; no template rewords either.
    assert plan(PlanInput(question=asked, depth=3)).sub_questions == [
        asked,
        "How do I encode Python objects as JSON text?",
        "How do I decode Python objects back?",
    ]
    assert plan(PlanInput(question="What is JSON?", depth=3)).sub_questions == ["What is JSON?"]


@pytest.mark.parametrize(
    ("asked", "steps"),
    [
        (
            "How do I turn an ISO 8601 date string into a datetime and then into seconds since the epoch?",
            [
                "How do I turn an ISO 8601 date string into a datetime?",
                "How do I turn an ISO 8601 date string into seconds since the epoch?",
            ],
        ),
        (
            "How can I compute a SHA-256 digest of some bytes and encode it as Base64 text?",
            [
                "How can I compute a SHA-256 digest of some bytes?",
                "How can I encode a SHA-256 digest of some bytes as Base64 text?",
            ],
        ),
        ("How do I open and close the file?", []),  # "open" alone names nothing to search for
        ("How do I read and write files?", []),  # one action on one thing, not two steps
    ],
)
def test_plan_splits_a_how_to_question_into_its_steps(asked: str, steps: list[str]) -> None:
    subs = plan(PlanInput(question=asked, depth=2)).sub_questions
    if steps:
        assert subs[1 : 1 + len(steps)] == steps
    else:
        # Not split: every "How do I ..." sub-question still holds both verbs.
        assert all(" and " in s for s in subs if s.startswith("How do I")), subs


@pytest.mark.parametrize(
    ("question", "wanted"),
    [
        ("What does functools.lru_cache do and how do I clear it?", "How do I clear functools.lru_cache?"),
        ("What is the walrus operator := and when should I use it?", "When should I use the walrus operator :=?"),
        ("What does the -> annotation mean and where is it stored?", "Where is the -> annotation stored?"),
        ("What is the is operator and how does it differ from ==?", "How does the is operator differ from ==?"),
        ("What does __init__ do, and how is it different from __new__?", "How is __init__ different from __new__?"),
        ("What is JSON? How is it parsed?", "How is JSON parsed?"),
        ("What are generators? Why are they lazy?", "Why are generators lazy?"),
        ("What is asyncio and what are its limitations?", "What are asyncio's limitations?"),
        ("What are iterators and how is their state kept?", "How is iterators' state kept?"),
        # No noun-phrase subject to stand for, but a thing named by its kind.
        (
            "What is a simple assert statement equivalent to, and when does it run?",
            "When does a simple assert statement run?",
        ),
        ("Why would the shelve module fail, and what replaces it?", "What replaces the shelve module?"),
        # The thing asked for, named by its kind and what it does.
        (
            "Which module parses TOML files, and what does it give back?",
            "What does the module that parses TOML files give back?",
        ),
        (
            "Which function should I call to flush a stream, and what does it return?",
            "What does the function I should call to flush a stream return?",
        ),
        (
            "What library reads command-line flags and how do I define a flag with it?",
            "How do I define a flag with the library that reads command-line flags?",
        ),
    ],
)
def test_a_later_clause_names_the_entity_its_pronoun_stands_for(question: str, wanted: str) -> None:
    assert wanted in plan(PlanInput(question=question, depth=2)).sub_questions


def test_a_question_mark_inside_the_question_is_not_a_clause_break() -> None:
    asked = "How do shell-style wildcards like * and ? match file names and paths?"
    assert plan(PlanInput(question=asked, depth=2)).sub_questions == [asked]


def test_templates_are_not_built_around_a_statement() -> None:
    asked = "Which functions compute the mean, median and standard deviation of data?"
    assert plan(PlanInput(question=asked, depth=3)).sub_questions == [asked]


def test_plan_compare_names_each_side_and_their_differences() -> None:
    subs = plan(PlanInput(question="Compare PostgreSQL and MySQL", depth=3)).sub_questions
    assert "What is PostgreSQL?" in subs
    assert "What is MySQL?" in subs
    assert "What are the key differences between PostgreSQL and MySQL?" in subs

    scoped = plan(PlanInput(question="Rust vs Go vs Zig for systems programming", depth=3)).sub_questions
    assert {"What is Rust?", "What is Go?", "What is Zig?"} <= set(scoped)
    assert "What are the key differences between Rust, Go and Zig for systems programming?" in scoped

    asked = plan(PlanInput(question="How does PostgreSQL compare to MySQL for analytics?", depth=2))
    assert "What are the key differences between PostgreSQL and MySQL for analytics?" in asked.sub_questions


def test_plan_splits_comma_lists_but_not_fixed_pairs() -> None:
    listed = plan(PlanInput(question="What are lists, tuples and dictionaries in Python?", depth=3))
    assert listed.sub_questions[1:4] == [
        "What are lists in Python?",
        "What are tuples in Python?",
        "What are dictionaries in Python?",
    ]
    pairs = plan(PlanInput(question="What are the pros and cons of remote work?", depth=3)).sub_questions
    assert "What is remote work?" in pairs
    assert not any("What are cons" in s or "What is cons" in s for s in pairs)


def test_plan_resolves_pronouns_and_rebuilds_why_statements() -> None:
    subs = plan(PlanInput(question="What is JSON? How is it parsed?", depth=1)).sub_questions
    assert subs[1:] == ["What is JSON?", "How is JSON parsed?"]
    why = plan(PlanInput(question="Why did the Roman Empire fall?", depth=2)).sub_questions
    assert why == [
        "Why did the Roman Empire fall?",
        "What is the Roman Empire?",
        "What are the main reasons why the Roman Empire fell?",
    ]


@settings(max_examples=150, deadline=None)
@given(question=st.text(max_size=120), depth=st.integers(1, 3))
def test_plan_survives_any_text(question: str, depth: int) -> None:
    subs = plan(PlanInput(question=question, depth=depth)).sub_questions
    assert 1 <= len(subs) <= BOUNDS[depth][1]
    assert len(set(subs)) == len(subs)


# --- text -------------------------------------------------------------------------------------------


def test_split_sentences_respects_abbreviations_paths_and_decimals() -> None:
    text = (
        "Use os.path.join, e.g. for paths on Windows. Pi is about 3.14 in most uses! "
        "Dr. Smith met J. R. R. Tolkien, i.e. the author. Is that so? Yes."
    )
    assert split_sentences(text) == [
        "Use os.path.join, e.g. for paths on Windows.",
        "Pi is about 3.14 in most uses!",
        "Dr. Smith met J. R. R. Tolkien, i.e. the author.",
        "Is that so?",
        "Yes.",
    ]


def test_split_sentences_keeps_headings_list_items_and_code_apart() -> None:
    text = topics["with"]
    sentences = split_sentences(text)
    flat = normalise(text)
    assert all(s in flat for s in sentences)  # each is a literal piece of the text
    assert 'The "with" statement' in sentences  # the heading, cut off from its rule and body
    assert 'The context manager\u2019s "__enter__()" method is invoked.' in sentences  # "4." stripped
    assert not any("****" in s for s in sentences)


def test_claim_filter_rejects_code_fragments_and_boilerplate() -> None:
    assert looks_like_code(">>> json.dumps(['foo', {'bar': ('baz', None, 1.0, 2)}])")
    assert looks_like_code("manager = (EXPRESSION) enter = type(manager).__enter__")
    assert not is_claim_sentence("The following code:")
    assert not is_claim_sentence("See step 7 below.")
    assert not is_claim_sentence("We use cookies to improve your experience on this website.")
    assert is_claim_sentence(
        'The context expression (the expression given in the "with_item") is evaluated to obtain a context manager.'
    )


def test_a_bold_run_in_heading_opens_a_claim_and_a_reference_item_does_not() -> None:
    run_in = (
        "**Private name mangling:** When an identifier that textually occurs in a class definition begins"
        " with two or more underscore characters, it is considered a *private name* of that class."
    )
    assert is_claim_sentence(run_in)
    assert is_claim_sentence('**PEP 8** advises that comparisons for singletons should always be done with "is".')
    assert not is_claim_sentence("**PEP 343** - The with statement The specification, background, and examples.")
    assert is_claim_sentence(
        '*__slots__* reserves space for the declared variables and prevents the creation of "__dict__".'
    )
    assert is_claim_sentence("*dualstack_ipv6*: if true and the platform supports it, it accepts both kinds.")
    assert not is_claim_sentence("**Privacy policy:** We share the data you submit with our partners for ads.")


def test_prose_quoting_an_operator_is_a_claim_and_the_same_code_unquoted_is_not() -> None:
    quoted = 'For instance, if *x* has an "__iadd__()" method, "x += y" is equivalent to "x = x.__iadd__(y)" .'
    assert is_claim_sentence(quoted)
    assert is_claim_sentence("Comparisons such as `a == b` call the `__eq__()` method of the left operand.")
    assert looks_like_code("if x == 1: return foo(x) + bar(y);")
    assert looks_like_code('>>> "x" + "y"')


def test_a_summary_list_splits_a_line_an_entry_and_a_lone_dashed_line_stays_prose() -> None:
    listing = "getrefcount() -- return the reference count\ngetsizeof() -- return the size of an object in bytes"
    assert split_sentences(listing) == [
        "getrefcount() -- return the reference count",
        "getsizeof() -- return the size of an object in bytes",
    ]
    wrapped = "It reads each line of the file and\nreturns -- unless it fails -- a list of tokens."
    assert split_sentences(wrapped) == [
        "It reads each line of the file and returns -- unless it fails -- a list of tokens."
    ]


def test_tokenize_stems_and_keeps_keywords_used_as_code() -> None:
    assert stem("managers") == stem("manager")
    assert stem("working") == stem("works") == stem("work")
    assert stem("evaluated") == stem("evaluate") == stem("evaluating")
    assert tokenize("The with statement") == ["with", "statement"]
    # a keyword that is also an English function word counts where it names code, not in prose
    assert tokenize("They went with him") == ["went"]
    assert tokenize("Is `x is not y` true?") == ["is", "not", "is not", "tru"]
    assert tokenize("What does __init__ do?") == ["__init__", "init"]


def test_cosine_bounds() -> None:
    a = vector(tokenize("context managers define runtime context"))
    assert cosine(a, a) == pytest.approx(1.0)
    assert cosine(a, vector(tokenize("json encodes python objects"))) == 0.0
    assert cosine(a, {}) == 0.0
