"""The analyst's offline brain: planning, sentence handling and cited extractive synthesis."""

from __future__ import annotations

import collections
import itertools
import json
from pydoc_data.topics import topics

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.work import Draft, Passage, PlanInput, SearchOutput, SynthesiseInput
from services.analyst.domain.planning import plan
from services.analyst.domain.synthesis import check_citations, synthesise
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

WITH_Q = "How does the with statement work in Python and what are context managers?"
BOUNDS = {1: (2, 3), 2: (3, 4), 3: (4, 6)}
QUESTIONS = [
    WITH_Q,
    "What is JSON?",
    "Compare PostgreSQL and MySQL",
    "Rust vs Go vs Zig for systems programming",
    "What are lists, tuples and dictionaries in Python?",
    "Why is the sky blue?",
    "How to deploy Django on Kubernetes?",
    "What are the pros and cons of remote work?",
    "What is JSON? How is it parsed?",
    "transformers attention",
    "",
]


def chunks(topic: str, size: int = 1500) -> list[Passage]:
    """A pydoc topic cut on paragraph boundaries into passages of about `size` characters."""
    pieces: list[str] = []
    current = ""
    for para in topics[topic].split("\n\n"):
        if current and len(current) + len(para) > size:
            pieces.append(current)
            current = ""
        current = f"{current}\n\n{para}" if current else para
    if current:
        pieces.append(current)
    return [
        Passage(source_id=f"pydoc:{topic}", title=f"Python reference: {topic}", location=f"chunk {i}", text=t)
        for i, t in enumerate(pieces)
    ]


def doc_passage(name: str, doc: str | None) -> Passage:
    assert doc
    return Passage(source_id=f"doc:{name}", title=name, location="docstring", text=doc)


WITH_PASSAGES = chunks("with") + chunks("context-managers")
OTHER_PASSAGES = [
    *chunks("for"),
    *chunks("import")[:3],
    doc_passage("json", json.__doc__),
    doc_passage("OrderedDict", collections.OrderedDict.__doc__),
]
ALL_PASSAGES = WITH_PASSAGES + OTHER_PASSAGES


def synth(
    question: str,
    findings: dict[str, list[Passage]],
    *,
    max_sources: int = 8,
    claims_per_section: int = 3,
) -> Draft:
    inp = SynthesiseInput(
        question=question,
        sub_questions=list(findings),
        findings=[SearchOutput(sub_question=q, passages=p) for q, p in findings.items()],
        max_sources=max_sources,
    )
    return synthesise(inp, claims_per_section=claims_per_section).draft


def all_claims(draft: Draft) -> list[str]:
    return [c.text for c in draft.summary] + [c.text for s in draft.sections for c in s.claims]


# --- planning ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_plan_counts_grow_with_depth_and_never_repeat(question: str, depth: int) -> None:
    subs = plan(PlanInput(question=question, depth=depth)).sub_questions
    low, high = BOUNDS[depth]
    assert low <= len(subs) <= high, subs
    assert len({s.lower().rstrip("?") for s in subs}) == len(subs), subs
    assert all(s.strip() for s in subs)
    if question:
        assert subs[0] == question


def test_plan_depth_is_monotonic_and_prefix_stable() -> None:
    plans = [plan(PlanInput(question=WITH_Q, depth=d)).sub_questions for d in (1, 2, 3)]
    assert [len(p) for p in plans] == [3, 4, 6]
    assert plans[1][: len(plans[0])] == plans[0]
    assert plans[2][: len(plans[1])] == plans[1]


def test_plan_splits_compound_question_into_its_clauses() -> None:
    subs = plan(PlanInput(question=WITH_Q, depth=1)).sub_questions
    assert subs == [WITH_Q, "How does the with statement work in Python?", "What are context managers?"]
    deeper = plan(PlanInput(question=WITH_Q, depth=3)).sub_questions
    assert "What is the with statement in Python?" in deeper
    assert "How do context managers work?" in deeper  # plural subject, plural verb


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
    low, high = BOUNDS[depth]
    assert low <= len(subs) <= high
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


def test_tokenize_stems_and_keeps_keywords_that_name_things() -> None:
    assert stem("managers") == stem("manager")
    assert stem("working") == stem("works") == stem("work")
    assert stem("evaluated") == stem("evaluate") == stem("evaluating")
    assert tokenize("The with statement") == ["with", "statement"]
    assert tokenize("They went with him") == ["went"]


def test_cosine_bounds() -> None:
    a = vector(tokenize("context managers define runtime context"))
    assert cosine(a, a) == pytest.approx(1.0)
    assert cosine(a, vector(tokenize("json encodes python objects"))) == 0.0
    assert cosine(a, {}) == 0.0


# --- synthesis --------------------------------------------------------------------------------------


def test_synthesis_claims_are_quoted_from_the_sources_they_cite() -> None:
    subs = plan(PlanInput(question=WITH_Q, depth=2)).sub_questions
    draft = synth(WITH_Q, dict.fromkeys(subs, ALL_PASSAGES))
    assert check_citations(draft) == []
    assert draft.sections and 2 <= len(draft.summary) <= 4
    assert draft.title == "How does the with statement work in Python and what are context managers"
    by_number = {s.number: s for s in draft.sources}
    for claim in [*draft.summary, *(c for s in draft.sections for c in s.claims)]:
        for n in claim.citations:
            assert claim.text in normalise(by_number[n].passage)
            # The cited passage is one we supplied, verbatim.
            assert any(
                p.text.strip() in by_number[n].passage for p in ALL_PASSAGES if p.source_id == by_number[n].source_id
            )


def test_synthesis_prefers_relevant_passages() -> None:
    question = "What does the with statement do with a context manager?"
    draft = synth(question, {question: OTHER_PASSAGES + WITH_PASSAGES})
    cited = {s.source_id for s in draft.sources}
    assert cited <= {"pydoc:with", "pydoc:context-managers"}, cited
    for text in all_claims(draft):
        assert "with" in text.lower() or "context manager" in text.lower(), text


def test_synthesis_respects_max_sources_and_numbers_in_order_of_first_citation() -> None:
    subs = plan(PlanInput(question=WITH_Q, depth=3)).sub_questions
    for budget in (1, 2, 3):
        draft = synth(WITH_Q, dict.fromkeys(subs, ALL_PASSAGES), max_sources=budget)
        assert 1 <= len(draft.sources) <= budget
        assert check_citations(draft) == []
        order = [n for c in [*draft.summary, *(c for s in draft.sections for c in s.claims)] for n in c.citations]
        first_seen = list(dict.fromkeys(order))
        assert first_seen == list(range(1, len(draft.sources) + 1))


def test_passages_sharing_source_and_location_share_a_number() -> None:
    paragraphs = topics["with"].split("\n\n")
    halves = ["\n\n".join(paragraphs[:8]), "\n\n".join(paragraphs[8:])]
    same = [Passage(source_id="pydoc:with", title="with", location="whole", text=t) for t in halves]
    draft = synth(
        "How does the with statement handle exceptions?", {"How does the with statement handle exceptions?": same}
    )
    assert len(draft.sources) == 1
    assert check_citations(draft) == []


def test_mmr_never_picks_two_near_identical_sentences() -> None:
    base = "The with statement calls the context manager's exit method even when the block raises an exception."
    twin = base.replace("even when", "even if")
    other = "A context manager is an object that defines the runtime context for a with statement."
    passages = [
        Passage(source_id="a", title="A", location="1", text=f"{base} {other}"),
        Passage(source_id="b", title="B", location="1", text=twin),
    ]
    question = "What does the with statement do with a context manager?"
    draft = synth(question, {question: passages}, claims_per_section=3)
    claims = draft.sections[0].claims
    texts = [c.text for c in claims]
    assert other in texts
    assert (base in texts) != (twin in texts), texts
    for a, b in itertools.combinations(all_claims(draft)[len(draft.summary) :], 2):
        assert cosine(vector(tokenize(a)), vector(tokenize(b))) < 0.8


def test_identical_sentence_in_two_sources_cites_both() -> None:
    sentence = "A context manager is an object that defines the runtime context for a with statement."
    passages = [
        Passage(source_id="a", title="A", location="1", text=sentence),
        Passage(source_id="b", title="B", location="2", text=f"Intro text here for the page. {sentence}"),
    ]
    question = "What is a context manager?"
    draft = synth(question, {question: passages})
    assert draft.sections[0].claims[0].citations == [1, 2]
    assert check_citations(draft) == []


def test_near_duplicates_are_not_repeated_across_sections() -> None:
    subs = plan(PlanInput(question=WITH_Q, depth=3)).sub_questions
    draft = synth(WITH_Q, dict.fromkeys(subs, ALL_PASSAGES))
    body = [c.text for s in draft.sections for c in s.claims]
    assert len(body) == len(set(body))


def test_empty_or_unusable_input_gives_an_empty_draft() -> None:
    assert synth(WITH_Q, {}).model_dump()["sections"] == []
    empty = synth(WITH_Q, {WITH_Q: []})
    assert (empty.summary, empty.sections, empty.sources) == ([], [], [])
    assert check_citations(empty) == []
    # json's docstring is prose about JSON plus doctest code: nothing about the with statement.
    unrelated = synth(WITH_Q, {WITH_Q: [doc_passage("json", json.__doc__)]})
    assert (unrelated.summary, unrelated.sections, unrelated.sources) == ([], [], [])


def test_sub_question_without_usable_passages_gets_no_section() -> None:
    findings = {
        "What are context managers?": chunks("context-managers"),
        "What is an OrderedDict?": [doc_passage("OrderedDict", collections.OrderedDict.__doc__)],
    }
    draft = synth("What are context managers?", findings)
    assert [s.heading for s in draft.sections] == ["What are context managers?"]


def test_check_citations_reports_tampering() -> None:
    draft = synth(WITH_Q, {WITH_Q: WITH_PASSAGES})
    assert check_citations(draft) == []
    section = draft.sections[0]
    bad_claim = section.claims[0].model_copy(update={"text": "Context managers were invented in 1066."})
    bad_number = section.claims[0].model_copy(update={"citations": [99]})
    tampered = draft.model_copy(update={"sections": [section.model_copy(update={"claims": [bad_claim, bad_number]})]})
    problems = check_citations(tampered)
    assert len(problems) == 2
    assert "not found" in problems[0]
    assert "out of range" in problems[1]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.sampled_from(ALL_PASSAGES), max_size=12),
    which=st.lists(st.integers(0, 5), min_size=1, max_size=6),
    max_sources=st.integers(1, 6),
    per_section=st.integers(1, 4),
)
def test_any_subset_of_passages_yields_valid_citations(
    picks: list[Passage], which: list[int], max_sources: int, per_section: int
) -> None:
    subs = plan(PlanInput(question=WITH_Q, depth=3)).sub_questions
    findings = {subs[i % len(subs)]: picks[j :: len(which)] for j, i in enumerate(which)}
    draft = synth(WITH_Q, findings, max_sources=max_sources, claims_per_section=per_section)
    assert check_citations(draft) == []
    assert len(draft.sources) <= max_sources
    assert all(len(s.claims) <= per_section for s in draft.sections)
    assert bool(draft.summary) == bool(draft.sections)
