"""The citation check of every draft: cited sentences against their passages (lexical entailment with
number and negation agreement), unsupported claims cut from the draft, the support rate recorded."""

from __future__ import annotations

from pydoc_data.topics import topics

from contracts.task import TaskDispatched, TaskDispatchedPayload
from contracts.work import (
    Claim,
    Draft,
    Passage,
    SearchOutput,
    Section,
    SourceRef,
    SynthesiseInput,
    SynthesiseOutput,
    VerifyInput,
    VerifyOutput,
)
from services.analyst.application.tasks import execute
from services.analyst.domain.synthesis import check_citations, synthesise
from services.analyst.domain.verify import ENTAILMENT_THRESHOLD, drop_unsupported, entailment, supports, verify
from services.retriever.domain.corpus import module_document

COPY = module_document("copy")
assert COPY is not None
COPY_TEXT = COPY.text
TRUTH = topics["truth"]


def test_a_paraphrase_is_backed_and_a_changed_number_or_negation_is_not() -> None:
    passage = topics["raise"]
    said = "raise evaluates the first expression as the exception object, a subclass or instance of BaseException."
    assert entailment(said, passage) >= ENTAILMENT_THRESHOLD
    truth_claim = "Zero of any numeric type is considered false."
    assert supports(truth_claim, TRUTH)
    # Same words, opposite sense: the window that holds them does not negate, the claim does.
    assert not supports("Zero of any numeric type is not considered false.", TRUTH)
    pickle = module_document("pickle")
    assert pickle is not None
    assert supports("Supported pickle protocols are 0, 1, 2, 3, 4 and 5; the default protocol is 4.", pickle.text)
    assert not supports("Supported pickle protocols are 0, 1, 2, 3, 4 and 7; the default protocol is 4.", pickle.text)


def test_words_scattered_over_a_long_passage_back_nothing() -> None:
    passage = " ".join(
        [
            "The scheduler assigns each queue a priority.",
            "Logs rotate every night at midnight.",
            "Backups are compressed with gzip before upload.",
            "Operators review alerts on a rota.",
            "Each worker drains its queue before stopping.",
        ]
    )
    stitched = "The scheduler assigns priority to operators on a rota."
    assert entailment(stitched, passage) < ENTAILMENT_THRESHOLD  # every word is there, never together
    assert supports("Backups are compressed with gzip before upload.", passage)
    assert supports("Before upload, backups get compressed using gzip.", passage)


def test_every_sentence_of_a_claim_is_checked() -> None:
    good = "A shallow copy constructs a new compound object and then inserts the same objects into it."
    assert supports(good, COPY_TEXT)
    assert not supports(good + " Deep copies are always faster than shallow ones.", COPY_TEXT)


def _draft() -> Draft:
    passage = SourceRef(number=1, source_id="pydoc:module:copy", title="copy", location="part 1", passage=COPY_TEXT)
    truth = SourceRef(number=2, source_id="pydoc:topic:truth", title="truth", location="part 1", passage=TRUTH)
    shallow = "A shallow copy constructs a new compound object and then inserts the same objects into it."
    return Draft(
        title="Copies",
        question="How do copies work?",
        summary=[Claim(text="Copying was invented in 1999 by the Python core team.", citations=[1])],
        sections=[
            Section(heading="Falsehood", claims=[Claim(text="Copies are always deep in Python code.", citations=[2])]),
            Section(
                heading="Copies",
                claims=[Claim(text=shallow, citations=[2, 1]), Claim(text="Empty sequences are false.", citations=[2])],
            ),
        ],
        sources=[passage, truth],
    )


def test_unsupported_claims_are_cut_and_the_rest_renumbered() -> None:
    draft = _draft()
    cleaned, check = drop_unsupported(draft)
    assert (check.checked, check.supported) == (4, 1)
    assert check.support_rate == 0.25
    assert [(u.where, u.citations) for u in check.unsupported] == [
        ("summary claim 1", [1]),
        ("section 'Falsehood' claim 1", [2]),
        ("section 'Copies' claim 1", [2]),  # kept, backed by [1]; the wrong citation goes
    ]
    assert cleaned.summary == [] and [s.heading for s in cleaned.sections] == ["Copies"]
    claims = cleaned.sections[0].claims
    # The copy module is now cited first, so it becomes [1]; truth [2].
    assert [(c.citations, c.text[:9]) for c in claims] == [([1], "A shallow"), ([2], "Empty seq")]
    assert [(s.number, s.source_id) for s in cleaned.sources] == [(1, "pydoc:module:copy"), (2, "pydoc:topic:truth")]
    assert check_citations(cleaned, check_text=False) == []
    after = verify_draft(cleaned)
    assert (after.support_rate, after.unsupported, after.problems) == (1.0, [], [])
    # A draft that holds up comes back as it was.
    assert drop_unsupported(cleaned)[0] == cleaned


def verify_draft(draft: Draft) -> VerifyOutput:
    return verify(VerifyInput(draft=draft))


async def test_the_synthesise_task_records_its_citation_check() -> None:
    passages = [
        Passage(source_id="pydoc:topic:truth", title="Truth", location="part 1", text=TRUTH, score=1.0),
        Passage(source_id="pydoc:module:copy", title="copy", location="part 1", text=COPY_TEXT, score=0.9),
    ]
    question = "Which values are false and how does copying work?"
    inp = SynthesiseInput(
        question=question,
        sub_questions=[question],
        findings=[SearchOutput(sub_question=question, passages=passages)],
        max_sources=4,
    )
    payload = TaskDispatchedPayload(task_id="t-1", kind="synthesise", role="analyst", input=inp.model_dump())
    result = await execute(TaskDispatched.create(payload, tenant_id="t", run_id="run-1"))
    out = SynthesiseOutput.model_validate(result.output)
    assert out.citation_check is not None
    assert out.citation_check.checked > 0 and out.citation_check.support_rate == 1.0  # extractive: all quoted
    assert out.draft == synthesise(inp).draft
    # Its answer-relevance count travels beside the citation check, for the methods section.
    assert out.off_question == synthesise(inp).off_question is not None
