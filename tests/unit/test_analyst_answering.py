"""The analyst ranks sentences by how much of the question they answer, leads the summary with the
direct answer, and drops claims that are backed by their source but answer something else."""

from __future__ import annotations

import httpx

from contracts.report import ReportLength
from contracts.task import TaskDispatched, TaskDispatchedPayload
from contracts.work import (
    Claim,
    Draft,
    Passage,
    ReportMethods,
    SearchOutput,
    Section,
    SourceRef,
    SynthesiseInput,
    SynthesiseOutput,
)
from services.analyst.application.tasks import execute
from services.analyst.domain.answering import Ask, ask_of, fit, heading_terms
from services.analyst.domain.relevance import drop_off_question
from services.analyst.domain.selection import LENGTHS, candidates_of, score_pool
from services.analyst.domain.synthesis import synthesise
from services.analyst.domain.text import Idf, tokenize
from services.analyst.domain.verify import drop_unsupported
from services.analyst.llm import ChatClient
from tests.support.synthesis import WITH_PASSAGES

SHELVE_Q = "How does the shelve module store values?"


def _passage(source: str, title: str, text: str, score: float = 1.0) -> Passage:
    return Passage(source_id=source, title=title, location="§ overview, part 1", text=text, score=score)


def _stdlib_names(module: str) -> dict[str, str]:
    """How the corpus names a standard library module's documentation."""
    return {"source_id": f"pydoc:module:{module}", "title": f"Python stdlib: {module}"}


def _stdlib(module: str, text: str, score: float = 1.0) -> Passage:
    """A passage of the module's documentation."""
    return Passage(**_stdlib_names(module), location="§ overview, part 1", text=text, score=score)


def _source(number: int, module: str, passage: str) -> SourceRef:
    """A draft's source `number`, quoting the module's documentation."""
    return SourceRef(number=number, **_stdlib_names(module), location=f"§ {module}, part 1", passage=passage)


def _claims(out: SynthesiseOutput) -> list[str]:
    return [c.text for c in out.draft.summary] + [c.text for s in out.draft.sections for c in s.claims]


def test_a_sentence_holding_the_questions_terms_together_fits_better_than_one_sharing_a_word() -> None:
    answer = "The from clause attaches the cause to the raised exception."
    incidental = "A clause of this kind is rare in configuration files, which seldom hold more than one."
    idf = Idf.fit([tokenize(answer), tokenize(incidental), tokenize("Exceptions are objects.")])
    ask = ask_of("How does raise from attach a cause to an exception?", idf)

    direct = fit(ask, tokenize(answer), frozenset())
    assert direct > fit(ask, tokenize(incidental), frozenset())
    # Scattered over a long sentence, the same terms answer less than side by side.
    scattered = "The cause, as the manual says at length in several places, is attached to an exception later."
    assert fit(ask, tokenize(scattered), frozenset()) < fit(
        ask, tokenize("The cause is attached to an exception."), frozenset()
    )


def test_code_terms_count_as_soon_as_the_tokenizer_keeps_them() -> None:
    ask = Ask(weights={"__init__": 2.0, "==": 2.0, "call": 1.0}, entity=frozenset({"__init__"}))

    assert fit(ask, ["__init__", "call"], frozenset()) > fit(ask, ["call"], frozenset())
    assert fit(ask, ["call"], heading_terms("Python reference: __init__")) > fit(ask, ["call"], frozenset())


def test_the_passage_whose_heading_names_the_entity_ranks_first() -> None:
    sentence = "It stores values under string keys and reads them back on demand."
    named = _stdlib("shelve", sentence)
    other = _stdlib("dbm", sentence)
    pool = list(candidates_of(0, [other, named]))
    score_pool(pool, [SHELVE_Q], SHELVE_Q)
    by_source = {c.passage.source_id: c for c in pool}

    shelve, dbm = by_source["pydoc:module:shelve"], by_source["pydoc:module:dbm"]
    assert shelve.relevance > dbm.relevance
    assert shelve.main_match > dbm.main_match
    assert shelve.addresses and not dbm.addresses


def test_a_backed_claim_about_another_module_with_the_same_verb_is_dropped_and_counted() -> None:
    shelve = _stdlib(
        "shelve",
        "A shelf is a persistent, dictionary-like object. The shelve module stores values pickled in a dbm "
        "file, under string keys. The values in a shelf can be essentially arbitrary Python objects.",
    )
    dbm = _stdlib(
        "dbm",
        "The dbm module stores values as bytes in a simple key-value database file on disk.",
        score=2.0,
    )
    inp = SynthesiseInput(
        question=SHELVE_Q,
        sub_questions=[SHELVE_Q],
        findings=[SearchOutput(sub_question=SHELVE_Q, passages=[dbm, shelve])],
        max_sources=5,
    )

    out = synthesise(inp)

    claims = _claims(out)
    assert "The shelve module stores values pickled in a dbm file, under string keys." in claims
    assert not any(c.startswith("The dbm module") for c in claims)
    assert out.off_question == 1
    assert [s.source_id for s in out.draft.sources] == ["pydoc:module:shelve"]
    # Its source backs the dropped sentence: citation support alone would have kept it.
    _, check = drop_unsupported(out.draft)
    assert check.support_rate == 1.0


def test_the_summary_opens_with_the_best_direct_answer() -> None:
    question = "How does raise from attach a cause to an exception?"
    general = _passage(
        "pydoc:exceptions",
        "Python reference: exceptions",
        "Exceptions are raised when an error is detected, and the interpreter looks for a handler. "
        "An exception may be raised again in a handler, and the exception propagates to the caller.",
        score=3.0,
    )
    direct = _passage(
        "pydoc:raise",
        "Python reference: raise",
        "The from clause attaches a cause: the exception after from becomes the raised exception's "
        "__cause__ attribute. A traceback is attached to an exception when it is raised.",
    )
    out = synthesise(
        SynthesiseInput(
            question=question,
            sub_questions=[question],
            findings=[SearchOutput(sub_question=question, passages=[general, direct])],
            max_sources=5,
        )
    )

    assert out.draft.summary[0].text.startswith("The from clause attaches a cause")


def test_payloads_from_before_the_relevance_check_still_validate() -> None:
    old_output = {"draft": {"title": "t", "question": "q", "summary": [], "sections": [], "sources": []}}
    assert SynthesiseOutput.model_validate(old_output).off_question is None
    assert ReportMethods.model_validate({"passages_retrieved": 3}).claims_off_question is None


def test_a_written_draft_loses_its_off_question_claims_and_keeps_its_numbering_whole() -> None:
    shelve = _source(1, "shelve", "The shelve module stores values pickled in a dbm file, under string keys.")
    dbm = _source(2, "dbm", "The dbm module stores values as bytes in a simple key-value database file on disk.")
    off = Claim(text="The dbm module keeps values as bytes in a key-value file.", citations=[2])
    on = Claim(text="Shelve pickles the values it stores, keyed by strings.", citations=[1])
    draft = Draft(
        title="Shelve",
        question=SHELVE_Q,
        summary=[off, on],
        sections=[Section(heading=SHELVE_Q, claims=[off]), Section(heading="What is a shelf?", claims=[on])],
        sources=[shelve, dbm],
    )

    kept, dropped = drop_off_question(draft, [SHELVE_Q, "What is a shelf?"])

    assert dropped == 2
    assert [c.text for c in kept.summary] == [on.text]
    assert [(s.heading, [c.citations for c in s.claims]) for s in kept.sections] == [("What is a shelf?", [[1]])]
    assert [s.source_id for s in kept.sources] == ["pydoc:module:shelve"]


async def test_a_models_backed_but_off_question_sentence_is_dropped_and_counted() -> None:
    shelve = _stdlib(
        "shelve",
        "The shelve module stores values pickled in a dbm file, under string keys.",
        score=2.0,
    )
    dbm = _stdlib("dbm", "The dbm module stores values as bytes in a key-value database file.")
    written = (
        "The shelve module stores values pickled in a dbm file, under string keys. [1] "
        "The dbm module stores values as bytes in a key-value database file. [2]"
    )

    def reply(request: httpx.Request) -> httpx.Response:
        body = {
            "choices": [{"index": 0, "message": {"role": "assistant", "content": written}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 4},
            "model": "writer",
        }
        return httpx.Response(200, json=body)

    inp = SynthesiseInput(
        question=SHELVE_Q,
        sub_questions=[SHELVE_Q],
        findings=[SearchOutput(sub_question=SHELVE_Q, passages=[shelve, dbm])],
        max_sources=5,
    )
    payload = TaskDispatchedPayload(task_id="t-1", kind="synthesise", role="analyst", input=inp.model_dump())
    client = ChatClient("http://llm.test/v1", model="writer", transport=httpx.MockTransport(reply))
    try:
        result = await execute(TaskDispatched.create(payload, tenant_id="acme", run_id="run-1"), client)
    finally:
        await client.aclose()

    out = SynthesiseOutput.model_validate(result.output)
    claims = _claims(out)
    assert claims and all(c.startswith("The shelve module") for c in claims)
    assert out.off_question == 2  # once in the section, once in the summary
    assert out.citation_check is not None and out.citation_check.support_rate == 1.0


def test_a_one_section_report_keeps_about_the_findings_of_its_length() -> None:
    question = "How does the with statement call a context manager's methods?"

    def findings(length: ReportLength) -> list[int]:
        inp = SynthesiseInput(
            question=question,
            sub_questions=[question],
            findings=[SearchOutput(sub_question=question, passages=WITH_PASSAGES)],
            max_sources=8,
            length=length,
        )
        return [len(s.claims) for s in synthesise(inp).draft.sections]

    # The preset's three per section would make a standard report of three findings.
    assert findings("brief") == [1]
    assert findings("standard")[0] > LENGTHS["standard"][0]
