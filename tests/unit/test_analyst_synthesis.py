"""The analyst's offline brain: cited extractive synthesis."""

from __future__ import annotations

import itertools
from pydoc_data.topics import topics

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.work import Passage, PlanInput
from services.analyst.domain.naming import label_backed, split_label
from services.analyst.domain.planning import plan
from services.analyst.domain.redundancy import quotes
from services.analyst.domain.selection import Candidate
from services.analyst.domain.synthesis import check_citations
from services.analyst.domain.text import cosine, normalise, tokenize, vector
from tests.support.passages import chunks
from tests.support.synthesis import (
    ALL_PASSAGES,
    JSON_DOC,
    ORDERED_DICT_DOC,
    OTHER_PASSAGES,
    WITH_PASSAGES,
    WITH_Q,
    all_claims,
    doc_passage,
    synth,
)

# --- synthesis --------------------------------------------------------------------------------------


def test_synthesis_claims_are_quoted_from_the_sources_they_cite() -> None:
    subs = plan(PlanInput(question=WITH_Q, depth=2)).sub_questions
    draft = synth(WITH_Q, dict.fromkeys(subs, ALL_PASSAGES))
    assert check_citations(draft) == []
    assert draft.sections and 2 <= len(draft.summary) <= 4
    assert draft.title == "How does the with statement work in Python and what are context managers"
    by_number = {s.number: s for s in draft.sources}
    for claim in [*draft.summary, *(c for s in draft.sections for c in s.claims)]:
        name, quote = split_label(claim.text)
        for n in claim.citations:
            ref = by_number[n]
            assert quote in normalise(ref.passage)
            # A label names the API the quote describes, as the cited source spells it.
            assert name is None or label_backed(name, ref.passage, ref.title, ref.location)
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


def test_no_finding_quotes_a_part_of_another() -> None:
    # The with statement's steps are one list claim; a step on its own would say part of it again.
    question = "How does the with statement work in Python, and what are context managers used for?"
    subs = plan(PlanInput(question=question, depth=2)).sub_questions
    draft = synth(question, dict.fromkeys(subs, WITH_PASSAGES), claims_per_section=4)
    findings = [c.text for s in draft.sections for c in s.claims]
    assert any("proceeds as follows" in f for f in findings), findings
    for a, b in itertools.permutations(findings, 2):
        assert a.lower() not in b.lower(), (a, b)


def test_a_claim_is_a_part_of_another_only_as_whole_words_under_the_same_label() -> None:
    def candidate(text: str, label: str | None) -> Candidate:
        passage = Passage(source_id="s", title="t", location="l", text=text)
        return Candidate(text=text, key=("s", "l"), passage=passage, group=0, position=0, rank_bonus=0.0, label=label)

    step = candidate("The context manager's exit method is loaded.", None)
    steps = candidate("1. The manager is evaluated. 2. The context manager's exit method is loaded.", None)
    assert quotes(steps, step) and not quotes(step, steps)
    assert not quotes(
        candidate("The helper cleans up its temporary files.", None), candidate("Temporary files.", "`tempfile`")
    )
    assert not quotes(candidate("Items are untouched.", None), candidate("touched.", None))


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
    unrelated = synth(WITH_Q, {WITH_Q: [doc_passage("json", JSON_DOC)]})
    assert (unrelated.summary, unrelated.sections, unrelated.sources) == ([], [], [])


def test_sub_question_without_usable_passages_gets_no_section() -> None:
    findings = {
        "What are context managers?": chunks("context-managers"),
        "What is an OrderedDict?": [doc_passage("OrderedDict", ORDERED_DICT_DOC)],
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
