"""The analyst's collect (merge the searches' findings) and verify (check the draft's citations) steps."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.task import TaskDispatched, TaskDispatchedPayload, TaskKind
from contracts.work import (
    Claim,
    CollectInput,
    CollectOutput,
    Draft,
    Passage,
    SearchOutput,
    Section,
    SourceRef,
    SynthesiseInput,
    VerifyInput,
    VerifyOutput,
)
from quarry_runtime.worker import TaskError
from services.analyst.application.tasks import execute
from services.analyst.domain.collect import NEAR_IDENTICAL, collect
from services.analyst.domain.naming import split_label
from services.analyst.domain.synthesis import synthesise
from services.analyst.domain.text import normalise
from services.analyst.domain.verify import ENTAILMENT_THRESHOLD, entailment, supports, verify
from tests.support.passages import chunks

QUESTION = "How does the with statement work in Python and what are context managers?"
SUB_WITH = "How does the with statement work in Python?"
SUB_CM = "What are context managers?"


WITH = chunks("with", ranked=True)
CM = chunks("context-managers", ranked=True)
FOR = chunks("for", ranked=True)


def ids(finding: SearchOutput) -> list[tuple[str, str]]:
    return [(p.source_id, p.location) for p in finding.passages]


def findings(**by_question: list[Passage]) -> list[SearchOutput]:
    return [SearchOutput(sub_question=q, passages=p) for q, p in by_question.items()]


# --- collect ----------------------------------------------------------------------------------------


def test_collect_drops_a_repeated_source_location_and_keeps_the_best_copy() -> None:
    best, other = WITH[0], WITH[1]
    again = best.model_copy(update={"score": 0.1})
    out = collect(CollectInput(question=QUESTION, findings=findings(q=[again, other, best])))
    assert ids(out.findings[0]) == [("pydoc:with", "chunk 0"), ("pydoc:with", "chunk 1")]
    assert out.findings[0].passages[0].score == best.score
    assert (out.passages, out.duplicates_dropped) == (2, 1)


def test_collect_drops_a_near_identical_copy_from_another_source() -> None:
    original = WITH[0]
    # A mirror re-wraps lines and changes case: equal once normalised.
    mirror = Passage(
        source_id="mirror.example/with",
        title="Mirror",
        location="p1",
        text=normalise(original.text).upper(),
        score=original.score - 0.05,
    )
    # A re-crawl with one word changed stays above the Jaccard threshold.
    words = original.text.split()
    edited = " ".join(["WRAP" if w == "wrap" else w for w in words])
    recrawl = Passage(source_id="cache.example/with", title="Cached", location="p1", text=edited, score=0.2)
    out = collect(CollectInput(question=QUESTION, findings=findings(q=[recrawl, mirror, original, CM[0]])))
    assert ids(out.findings[0]) == [("pydoc:with", "chunk 0"), ("pydoc:context-managers", "chunk 0")]
    assert (out.passages, out.duplicates_dropped) == (2, 2)


def test_collect_keeps_passages_that_are_merely_similar() -> None:
    short_a = Passage(source_id="a", title="A", location="1", text="The dog bites the man.", score=0.9)
    short_b = Passage(source_id="b", title="B", location="1", text="The man bites the dog.", score=0.8)
    # Half of a chunk overlaps the whole chunk a lot, but not near-identically.
    half = WITH[0].text[: len(WITH[0].text) // 2]
    partial = Passage(source_id="c", title="C", location="1", text=half, score=0.5)
    out = collect(CollectInput(question=QUESTION, findings=findings(q=[short_a, short_b, WITH[0], partial])))
    assert out.passages == 4 and out.duplicates_dropped == 0
    assert NEAR_IDENTICAL == 0.9


def test_collect_orders_by_score_within_and_by_findings_across_sub_questions() -> None:
    shuffled = [WITH[2], WITH[0], FOR[0], WITH[1]]
    out = collect(CollectInput(question=QUESTION, findings=findings(**{SUB_WITH: shuffled, SUB_CM: CM[::-1]})))
    assert [f.sub_question for f in out.findings] == [SUB_WITH, SUB_CM]
    for f in out.findings:
        scores = [p.score for p in f.passages]
        assert scores == sorted(scores, reverse=True)
    assert ids(out.findings[1]) == ids(SearchOutput(sub_question=SUB_CM, passages=CM))
    assert out.passages == len(shuffled) + len(CM) and out.duplicates_dropped == 0


def test_collect_keeps_a_shared_passage_once_per_sub_question_as_one_source() -> None:
    mirror = CM[0].model_copy(update={"source_id": "mirror", "title": "Mirror", "score": 2.0})
    # The first sub-question found the mirror; the second the original, and twice.
    inp = CollectInput(
        question=QUESTION,
        findings=findings(**{SUB_WITH: [WITH[0], mirror], SUB_CM: [CM[0], CM[1], CM[0]]}),
    )
    out = collect(inp)
    first, second = out.findings
    # Both sections keep the text, cited as the same (best-scored) source.
    assert ("mirror", "chunk 0") in ids(first) and ("mirror", "chunk 0") in ids(second)
    assert ("pydoc:context-managers", "chunk 0") not in ids(second)
    # Each keeps its own retrieval score.
    assert next(p.score for p in second.passages if p.source_id == "mirror") == CM[0].score
    assert (out.passages, out.duplicates_dropped) == (4, 1)


def test_collect_merges_findings_of_the_same_sub_question_and_is_deterministic() -> None:
    inp = CollectInput(
        question=QUESTION,
        findings=findings(**{SUB_WITH: [WITH[0]], SUB_CM: [CM[0]], f"  {SUB_WITH.lower()} ": [WITH[0], WITH[1]]}),
    )
    out = collect(inp)
    assert [f.sub_question for f in out.findings] == [SUB_WITH, SUB_CM]
    assert ids(out.findings[0]) == [("pydoc:with", "chunk 0"), ("pydoc:with", "chunk 1")]
    assert (out.passages, out.duplicates_dropped) == (3, 1)
    assert collect(inp) == out
    assert CollectOutput.model_validate(out.model_dump()) == out


def test_collect_of_nothing_is_empty() -> None:
    out = collect(CollectInput(question=QUESTION, findings=findings(q=[])))
    assert [f.passages for f in out.findings] == [[]]
    assert (out.passages, out.duplicates_dropped) == (0, 0)


# --- verify -----------------------------------------------------------------------------------------


def real_draft() -> Draft:
    """Search findings with overlap, collected then synthesised, as the run's DAG does."""
    raw = findings(**{QUESTION: WITH + CM, SUB_WITH: WITH + FOR[:2], SUB_CM: CM + WITH[:1]})
    collected = collect(CollectInput(question=QUESTION, findings=raw))
    inp = SynthesiseInput(
        question=QUESTION,
        sub_questions=[QUESTION, SUB_WITH, SUB_CM],
        findings=collected.findings,
        max_sources=6,
    )
    return synthesise(inp).draft


DRAFT = real_draft()
N_CLAIMS = len(DRAFT.summary) + sum(len(s.claims) for s in DRAFT.sections)


def replace_first_section_claims(draft: Draft, claims: list[Claim]) -> Draft:
    section = draft.sections[0].model_copy(update={"claims": claims})
    return draft.model_copy(update={"sections": [section, *draft.sections[1:]]})


def test_verify_passes_an_extractive_draft_of_real_passages() -> None:
    assert N_CLAIMS >= 4 and len(DRAFT.sources) >= 2
    out = verify(VerifyInput(draft=DRAFT))
    assert out == VerifyOutput(checked=N_CLAIMS, supported=N_CLAIMS, support_rate=1.0, problems=[])


def test_verify_flags_a_claim_missing_from_its_passage() -> None:
    claims = DRAFT.sections[0].claims
    invented = claims[0].model_copy(update={"text": "Context managers were invented in 1066 by the Normans."})
    draft = replace_first_section_claims(DRAFT, [invented, *claims[1:]])
    out = verify(VerifyInput(draft=draft))
    assert (out.checked, out.supported) == (N_CLAIMS, N_CLAIMS - 1)
    assert out.support_rate == pytest.approx((N_CLAIMS - 1) / N_CLAIMS)
    assert len(out.problems) == 1
    assert "claim 1: not supported by the passage of source" in out.problems[0]
    assert "1066" in out.problems[0]


def test_verify_flags_a_dangling_citation_and_a_wrongly_cited_source() -> None:
    claims = DRAFT.sections[0].claims
    dangling = claims[0].model_copy(update={"citations": [*claims[0].citations, 42]})
    # The claim is quoted from its own source, so citing only one that lacks the quote is wrong.
    quote = normalise(split_label(claims[1].text)[1])
    elsewhere = next(r.number for r in DRAFT.sources if quote not in normalise(r.passage))
    wrong = claims[1].model_copy(update={"citations": [elsewhere]})
    draft = replace_first_section_claims(DRAFT, [dangling, wrong, *claims[2:]])
    out = verify(VerifyInput(draft=draft))
    assert (out.checked, out.supported) == (N_CLAIMS, N_CLAIMS - 2)
    assert out.support_rate == pytest.approx((N_CLAIMS - 2) / N_CLAIMS)
    assert len(out.problems) == 2
    assert "citation [42] is out of range" in out.problems[0]
    assert f"claim 2: not supported by the passage of source [{elsewhere}]" in out.problems[1]


def test_verify_reports_a_draft_without_claims() -> None:
    empty = DRAFT.model_copy(update={"summary": [], "sections": []})
    out = verify(VerifyInput(draft=empty))
    assert out == VerifyOutput(checked=0, supported=0, support_rate=0.0, problems=["the draft has no claims"])


PASSAGE = CM[0].text
QUOTED = "A *context manager* is an object that defines the runtime context to be established"
PARAPHRASE = "Context managers are objects defining the runtime context established when a with statement executes."
UNRELATED = "Kubernetes schedules containers across a cluster of worker machines."
NEGATED = "A context manager is not an object that defines the runtime context of a with statement."


def test_entailment_accepts_a_paraphrase_and_rejects_unrelated_or_negated_claims() -> None:
    assert supports(QUOTED, PASSAGE)  # verbatim, across the passage's line breaks
    assert normalise(PARAPHRASE) not in normalise(PASSAGE)
    assert entailment(PARAPHRASE, PASSAGE) >= ENTAILMENT_THRESHOLD == 0.8
    assert supports(PARAPHRASE, PASSAGE)
    assert entailment(UNRELATED, PASSAGE) == 0.0
    assert not supports(UNRELATED, PASSAGE)
    # The definition never negates, so the negation is the one term it cannot back.
    definition = PASSAGE.split("\n\n")[1]
    assert entailment(NEGATED.replace(" not", ""), definition) >= ENTAILMENT_THRESHOLD
    assert supports(NEGATED.replace(" not", ""), definition)
    assert not supports(NEGATED, definition)


def test_verify_counts_an_entailed_paraphrase_as_supported() -> None:
    ref = SourceRef(number=1, source_id="pydoc:cm", title="CM", location="chunk 0", passage=PASSAGE)
    draft = Draft(
        title="Context managers",
        question=SUB_CM,
        summary=[Claim(text=PARAPHRASE, citations=[1])],
        sections=[Section(heading=SUB_CM, claims=[Claim(text=UNRELATED, citations=[1])])],
        sources=[ref],
    )
    out = verify(VerifyInput(draft=draft))
    assert (out.checked, out.supported, out.support_rate) == (2, 1, 0.5)
    assert out.problems == [f"section {SUB_CM!r} claim 1: not supported by the passage of source [1]: {UNRELATED!r}"]


# --- execute ----------------------------------------------------------------------------------------


def dispatched(kind: TaskKind, inp: dict[str, Any]) -> TaskDispatched:
    payload = TaskDispatchedPayload(task_id="task-1", kind=kind, role="analyst", input=inp)
    return TaskDispatched.create(payload, tenant_id="t", run_id="run-1")


async def test_execute_verify_succeeds_on_a_supported_draft() -> None:
    result = await execute(dispatched("verify", VerifyInput(draft=DRAFT).model_dump()))
    assert VerifyOutput.model_validate(result.output).support_rate == 1.0
    assert result.output == verify(VerifyInput(draft=DRAFT)).model_dump()
    assert [u.tool for u in result.usage] == ["llm_generate"]


async def test_execute_verify_fails_the_task_on_an_unsupported_claim() -> None:
    claims = DRAFT.sections[0].claims
    invented = claims[0].model_copy(update={"text": "Context managers were invented in 1066 by the Normans."})
    task = dispatched("verify", VerifyInput(draft=replace_first_section_claims(DRAFT, [invented])).model_dump())
    with pytest.raises(TaskError, match=r"^citation check failed: .*not supported.*1066"):
        await execute(task)


async def test_execute_verify_fails_a_draft_without_claims() -> None:
    empty = DRAFT.model_copy(update={"summary": [], "sections": []})
    with pytest.raises(TaskError, match="citation check failed: the draft has no claims"):
        await execute(dispatched("verify", VerifyInput(draft=empty).model_dump()))


async def test_execute_collect_returns_the_contract_output() -> None:
    inp = CollectInput(question=QUESTION, findings=findings(q=[WITH[0], WITH[0]]))
    result = await execute(dispatched("collect", inp.model_dump()))
    out = CollectOutput.model_validate(result.output)
    assert (out.passages, out.duplicates_dropped) == (1, 1)
    assert result.output == collect(inp).model_dump()
    assert [u.tool for u in result.usage] == ["llm_generate"]
