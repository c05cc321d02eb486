"""A follow-up's answer: composed from memory chunks, streamed in parts, recalled from the
tenant's memory, and folded into the gateway's read model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from qdrant_client import QdrantClient

from contracts.envelope import Event
from contracts.ids import new_id
from contracts.question import (
    AnswerInput,
    AnswerOutput,
    QuestionAnswered,
    QuestionAnswerPart,
    QuestionFailed,
    RecallInput,
)
from contracts.task import TaskDispatched, TaskDispatchedPayload
from contracts.work import Claim, Draft, IndexInput, Passage, Section, SourceRef
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase
from services.analyst.application.answer import answer, compose, compose_live, findings_of
from services.analyst.domain.verify import supports
from services.analyst.llm import ChatClient
from services.gateway.readmodels.questions import QuestionStore
from services.retriever.application.memory import index_run, memory_chunks, memory_index
from services.retriever.handlers import Components, execute
from services.retriever.index import SourceIndex, close_client
from services.retriever.parsing import ParserPool
from tests.fakes.llm import API_KEY, FakeLlm, serve
from tests.support.questions import TENANT, asked

# -- composing the answer ------------------------------------------------------------------------

DRAFT = Draft(
    title="Context managers",
    question="What is a Python context manager?",
    summary=[Claim(text="A context manager runs setup code on entry and cleanup code on exit.", citations=[1])],
    sections=[
        Section(
            heading="Usage",
            claims=[
                Claim(text="The with statement calls __enter__ before the block and __exit__ after it.", citations=[2]),
                Claim(text="The contextlib module turns a generator into a context manager.", citations=[1, 2]),
            ],
        )
    ],
    sources=[
        SourceRef(number=1, source_id="pep343", title="PEP 343", location="§1", passage="..."),
        SourceRef(number=2, source_id="ref", title="Reference", location="§2", passage="..."),
    ],
)
RUN_ID = "0190a1b2-0000-7000-8000-0000000000aa"


def memory_passages() -> list[Passage]:
    """What recall returns: the chunks the retriever indexed for the run, as passages."""
    inp = IndexInput(run_id=RUN_ID, question=DRAFT.question, draft=DRAFT)
    return [Passage(source_id=c.doc_id, title=c.title, location=c.location, text=c.text) for c in memory_chunks(inp)]


def test_findings_leave_out_the_question_the_source_list_and_the_run_s_markers() -> None:
    summary = memory_passages()[0]
    assert findings_of(summary) == ["A context manager runs setup code on entry and cleanup code on exit."]


def test_the_answer_quotes_the_best_findings_each_cited_to_the_memory_chunk_it_came_from() -> None:
    passages = memory_passages()
    parts, citations = compose("What does the with statement call after the block?", passages)
    assert parts[0].startswith("The with statement calls __enter__") and parts[0].endswith("[1]")
    assert all(not p.startswith(" ") for p in parts[:1]) and all(p.startswith(" ") for p in parts[1:])
    by_number = {c.number: c for c in citations}
    assert sorted(by_number) == list(range(1, len(citations) + 1))
    for part in parts:
        sentence, number = part.strip().rsplit(" [", 1)
        cited = by_number[int(number.rstrip("]"))]
        assert cited.run_id == RUN_ID and cited.memory_id.startswith(f"run:{RUN_ID}:")
        assert supports(sentence, cited.passage), "each sentence is backed by the chunk it cites"
    assert "[2]" not in parts[0], "the run's own source numbers do not leak into the answer"


def test_a_question_sharing_no_term_falls_back_to_the_best_chunk() -> None:
    parts, citations = compose("and then?", memory_passages())
    assert parts and [c.number for c in citations] == [1]


async def test_the_answer_is_published_in_parts_that_join_to_the_whole() -> None:
    published: list[Event] = []

    async def publish(event: Event) -> None:
        published.append(event)

    inp = AnswerInput(question_id=new_id(), question="How does the with statement work?", passages=memory_passages())
    task = TaskDispatched.create(
        TaskDispatchedPayload(task_id=new_id(), kind="answer", role="analyst", input=inp.model_dump()),
        tenant_id=TENANT,
        run_id=inp.question_id,
    )
    result = await answer(task, None, publish)
    out = AnswerOutput.model_validate(result.output)
    assert all(isinstance(e, QuestionAnswerPart) for e in published) and len(published) == out.parts
    assert "".join(e.payload.text for e in published) == out.answer
    assert [e.payload.seq for e in published] == list(range(out.parts))
    again: list[Event] = []
    await answer(task, None, lambda e: _append(again, e))
    assert [e.event_id for e in again] == [e.event_id for e in published], "a retried task's parts de-duplicate"
    assert result.usage[0].tool == "answer_question"


async def _append(into: list[Event], event: Event) -> None:
    into.append(event)


async def test_live_answers_keep_only_cited_sentences_and_meter_tokens() -> None:
    llm = FakeLlm(latency_s=(0.0, 0.0))
    inp = AnswerInput(question_id=new_id(), question="How does the with statement work?", passages=memory_passages())
    with serve(llm) as base_url:
        client = ChatClient(base_url, model="fake", api_key=API_KEY)
        try:
            parts, citations, usage = await compose_live(client, inp)
        finally:
            await client.aclose()
    # The sentence citing nothing is dropped; the one citing passage 1 keeps it, renumbered in order of use.
    (part,) = parts
    assert part.startswith("The first passage answers") and part.endswith(" [1]")
    assert [c.memory_id for c in citations] == [inp.passages[0].source_id]
    assert usage.tool == "answer_question" and usage.tokens_in > 0 and usage.tokens_out == 30


# -- the gateway's read model --------------------------------------------------------------------


def test_the_read_model_folds_parts_then_the_answer_idempotently(tmp_path: Any) -> None:
    db = SqlDatabase(RuntimeSettings(data_dir=tmp_path), "gateway")
    store = QuestionStore(db)
    ev = asked(new_id())
    qid, run_id = ev.payload.question_id, ev.payload.run_id
    assert store.apply(ev)
    parts, citations = compose("with statement", memory_passages())
    for seq, text in enumerate(parts):
        part = QuestionAnswerPart.create({"question_id": qid, "seq": seq, "text": text}, tenant_id=TENANT, run_id=qid)
        assert store.apply(part) and not store.apply(part)
    view = store.view(TENANT, run_id, qid)
    assert view is not None and view["status"] == "answering" and view["answer"] == "".join(parts)
    done = QuestionAnswered.create(
        {"question_id": qid, "run_id": run_id, "answer": "".join(parts), "citations": citations},
        tenant_id=TENANT,
        run_id=qid,
    )
    store.apply(done)
    view = store.view(TENANT, run_id, qid)
    assert view is not None and view["status"] == "answered" and len(view["citations"]) == len(citations)
    assert store.view("tenant-b", run_id, qid) is None and store.view(TENANT, new_id(), qid) is None
    assert store.parts_after(qid, 0) == [(seq, t) for seq, t in enumerate(parts)][1:]
    other = asked(run_id)
    store.apply(
        QuestionFailed.create(
            {"question_id": other.payload.question_id, "run_id": run_id, "reason": "no memory"},
            tenant_id=TENANT,
            run_id=other.payload.question_id,
        )
    )
    store.apply(other)  # the question after its failure (another consumer's order) fills the row in
    failed_view = store.view(TENANT, run_id, other.payload.question_id)
    assert (
        failed_view is not None and failed_view["status"] == "failed" and failed_view["question"] == other.payload.text
    )
    assert {q["question_id"] for q in store.of_run(TENANT, run_id, 10, 0)} == {qid, other.payload.question_id}


# -- recall: the retriever's memory search for a question ------------------------------------------


@pytest.fixture
def memory() -> Iterator[SourceIndex]:
    client = QdrantClient(":memory:")
    index = memory_index(client)
    index.ensure_collection()
    yield index
    close_client(client)


def recall_task(tenant_id: str, **inp: Any) -> TaskDispatched:
    body = RecallInput(**inp).model_dump()
    payload = TaskDispatchedPayload(task_id=new_id(), kind="recall", role="retriever", input=body)
    return TaskDispatched.create(payload, tenant_id=tenant_id, run_id=new_id())


async def test_recall_searches_only_the_task_s_tenant_and_the_run_when_scoped(memory: SourceIndex) -> None:
    other_run = "0190a1b2-0000-7000-8000-0000000000bb"
    lane = Components(index=memory, memory=memory, parsers=ParserPool())
    index_run(memory, TENANT, IndexInput(run_id=RUN_ID, question=DRAFT.question, draft=DRAFT))
    index_run(memory, TENANT, IndexInput(run_id=other_run, question=DRAFT.question, draft=DRAFT))
    index_run(memory, "tenant-b", IndexInput(run_id=RUN_ID, question=DRAFT.question, draft=DRAFT))

    def runs_of(result: Any) -> set[str]:
        return {p["source_id"].split(":")[1] for p in result.output["passages"]}

    question = "What does the with statement call after the block?"
    scoped = await execute(recall_task(TENANT, question=question, run_id=RUN_ID), lane)
    assert runs_of(scoped) == {RUN_ID} and scoped.usage[0].tool == "recall_memory"
    wide = await execute(recall_task(TENANT, question=question), lane)
    assert runs_of(wide) == {RUN_ID, other_run}
    # A terse follow-up matches nothing alone; the run's own question finds the run's findings.
    terse = recall_task(TENANT, question="Any drawbacks worth knowing?", run_id=RUN_ID)
    assert (await execute(terse, lane)).output["passages"] == []
    helped = await execute(
        recall_task(TENANT, question="Any drawbacks worth knowing?", run_id=RUN_ID, fallback=DRAFT.question),
        lane,
    )
    assert runs_of(helped) == {RUN_ID} and helped.usage[0].search_calls == 2
    assert (await execute(recall_task("tenant-c", question=question), lane)).output["passages"] == []
