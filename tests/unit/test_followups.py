"""Follow-up questions: the Question aggregate and its use cases (in-memory storage), the answer's
composition from memory chunks, and the gateway's read model of questions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from qdrant_client import QdrantClient

from contracts.credits import CreditsDenied, CreditsDeniedPayload, CreditsReserved, CreditsReservedPayload
from contracts.envelope import Actor, Event
from contracts.ids import new_id
from contracts.question import (
    AnswerInput,
    AnswerOutput,
    QuestionAnswered,
    QuestionAnswerPart,
    QuestionAsked,
    QuestionAskedPayload,
    QuestionFailed,
    RecallInput,
    RecallOutput,
    is_question_event,
)
from contracts.task import (
    TaskDispatched,
    TaskDispatchedPayload,
    TaskFailed,
    TaskFailedPayload,
    TaskSucceeded,
    TaskSucceededPayload,
)
from contracts.timer import TimerFired, TimerFiredPayload
from contracts.tool import ToolDecided, ToolDecidedPayload, ToolRequested
from contracts.work import Claim, Draft, IndexInput, Passage, Section, SourceRef
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase
from services.analyst.application.answer import answer, compose, compose_live, findings_of
from services.analyst.domain.verify import supports
from services.analyst.llm import ChatClient
from services.gateway.readmodels.questions import QuestionStore
from services.orchestrator.application import Orchestrator
from services.orchestrator.questions.domain import CREDITS_WAIT_S, Question, question_task_input
from services.orchestrator.questions.translate import translate_question
from services.retriever.application.memory import index_run, memory_chunks, memory_index
from services.retriever.handlers import execute
from services.retriever.index import SourceIndex, close_client
from tests.fakes.llm import API_KEY, FakeLlm, serve
from tests.support.orchestrator import POPO, started, work

TENANT = "tenant-a"


@pytest.fixture
def app() -> Orchestrator:
    return Orchestrator(env=POPO)


def completed_run(app: Orchestrator) -> str:
    run_id = started(app)
    work(app, run_id)
    assert app.get_run(run_id).state == "completed"
    return run_id


def asked(
    run_id: str, scope: str = "run", tenant_id: str = TENANT, text: str = "How does it tear down?"
) -> QuestionAsked:
    question_id = new_id()
    return QuestionAsked.create(
        QuestionAskedPayload(question_id=question_id, run_id=run_id, text=text, scope=scope),
        tenant_id=tenant_id,
        run_id=question_id,
        actor=Actor(user_id="u2", roles=["member"]),
    )


def held(ev: QuestionAsked, amount: int = 20) -> CreditsReserved:
    """Billing's hold of the question's credits, as it publishes it: no run id, the question named."""
    payload = CreditsReservedPayload(
        amount=amount, balance=100, question_id=ev.payload.question_id, about_run_id=ev.payload.run_id
    )
    return CreditsReserved.create(payload, tenant_id=ev.tenant_id)


def ask(app: Orchestrator, ev: QuestionAsked) -> None:
    """Ask, and let billing hold the credits (the question starts on the hold)."""
    app.ask_question(ev)
    app.admit_question(held(ev))


def decided(q: Question, task_id: str, decision: str = "allow") -> ToolDecided:
    task = q.tasks[task_id]
    payload = ToolDecidedPayload(
        request_id=f"{task_id}:1",
        task_id=task_id,
        tool=task.tool,
        decision=decision,
        reasons=["because"],
        policy_ids=["p1"],
        policy_version="v1",
        evaluation_ms=0.1,
    )
    return ToolDecided.create(payload, tenant_id=q.tenant_id, run_id=q.question_id)


def succeeded(q: Question, task_id: str, output: dict[str, Any]) -> TaskSucceeded:
    task = q.tasks[task_id]
    payload = TaskSucceededPayload(
        task_id=task_id, kind=task.kind, attempt=task.attempt, output=output, usage_event_ids=[f"u-{task_id}"]
    )
    return TaskSucceeded.create(payload, tenant_id=q.tenant_id, run_id=q.question_id)


def failed(q: Question, task_id: str, retryable: bool = True) -> TaskFailed:
    task = q.tasks[task_id]
    payload = TaskFailedPayload(
        task_id=task_id, kind=task.kind, attempt=task.attempt, reason="boom", retryable=retryable
    )
    return TaskFailed.create(payload, tenant_id=q.tenant_id, run_id=q.question_id)


MEMORY = Passage(
    source_id="run:0190a1b2-0000-7000-8000-000000000001:0",
    title="Context managers — Summary",
    location="Summary",
    text="Question: what is a context manager\n\nA context manager sets up and tears down resources. [1]\n\n"
    "Sources:\n[1] Doc, §1 (doc1)",
)


def test_a_question_on_a_completed_run_recalls_then_answers(app: Orchestrator) -> None:
    run_id = completed_run(app)
    ev = asked(run_id)
    ask(app, ev)
    q = app.get_question(ev.payload.question_id)
    (recall,) = q.tasks.values()
    assert (recall.kind, recall.tool, recall.role) == ("recall", "recall_memory", "retriever")
    assert recall.input["run_id"] == run_id and recall.input["question"] == "How does it tear down?"
    assert recall.input["fallback"] == "what is a context manager", "the run's own question helps a terse follow-up"

    app.decide_question_tool(decided(q, recall.task_id))
    q = app.get_question(q.question_id)
    assert q.tasks[recall.task_id].status == "dispatched"
    app.finish_question_task(succeeded(q, recall.task_id, RecallOutput(passages=[MEMORY]).model_dump()))
    q = app.get_question(q.question_id)
    (answer_task,) = q.tasks_of("answer")
    assert answer_task.tool == "answer_question" and answer_task.role == "analyst"
    # The passages are read from the recall's output when dispatched, not stored twice.
    assert "passages" not in answer_task.input
    app.decide_question_tool(decided(q, answer_task.task_id))
    q = app.get_question(q.question_id)
    inp = AnswerInput.model_validate(question_task_input(q, q.tasks[answer_task.task_id]))
    assert inp.passages == [MEMORY]
    parts, citations = compose(inp.question, inp.passages)
    out = AnswerOutput(answer="".join(parts), citations=citations, parts=len(parts))
    app.finish_question_task(succeeded(q, answer_task.task_id, out.model_dump()))
    q = app.get_question(q.question_id)
    assert q.state == "answered"
    assert q.usage_event_ids() == [f"u-{recall.task_id}", f"u-{answer_task.task_id}"]
    # The run itself is untouched by the question asked about it.
    assert app.get_run(run_id).state == "completed"


def test_the_question_publishes_its_saga_under_its_own_id_with_stable_ids(app: Orchestrator) -> None:
    run_id = completed_run(app)
    ev = asked(run_id, scope="tenant")
    ask(app, ev)
    qid = ev.payload.question_id
    for _ in range(2):
        q = app.get_question(qid)
        (task,) = [t for t in q.tasks.values() if t.status == "requested"]
        app.decide_question_tool(decided(q, task.task_id))
        q = app.get_question(qid)
        output = (
            RecallOutput(passages=[MEMORY]).model_dump()
            if task.kind == "recall"
            else AnswerOutput(answer="x [1]", citations=compose("tear down", [MEMORY])[1], parts=1).model_dump()
        )
        app.finish_question_task(succeeded(q, task.task_id, output))

    def at(originator_id: Any, version: int) -> Question:
        found: Question = app.repository.get(originator_id, version=version)
        return found

    notifications = app.recorder.select_notifications(start=1, limit=1000)
    ours = [n for n in notifications if n.topic.startswith("services.orchestrator.questions.domain:Question.")]
    published = [o for n in ours for o in translate_question(app.mapper.to_domain_event(n), at)]
    timers = [o for o in published if o.at is not None]
    assert [t.event.payload.purpose for t in timers] == ["question_credits_timeout"] + ["question_task_timeout"] * 2
    assert all(is_question_event(t.event) for t in timers), "a question's timers come back to the question"
    published = [o for o in published if o.at is None]
    kinds = [type(o.event) for o in published]
    assert kinds == [ToolRequested, TaskDispatched, ToolRequested, TaskDispatched, QuestionAnswered]
    assert all(o.event.run_id == qid and o.event.tenant_id == TENANT for o in published)
    assert [o.subject for o in published if isinstance(o.event, TaskDispatched)] == [
        "task.v1.dispatched.retriever",
        "task.v1.dispatched.analyst",
    ]
    recall_input = published[1].event.payload.input
    assert recall_input["run_id"] is None, "scope tenant searches the whole tenant's memory"
    assert all(is_question_event(o.event) for o in published[:4])
    final = published[-1].event
    assert isinstance(final, QuestionAnswered) and final.payload.run_id == run_id
    assert final.payload.citations[0].memory_id == MEMORY.source_id
    again = [o for n in ours for o in translate_question(app.mapper.to_domain_event(n), at) if o.at is None]
    assert [o.event.event_id for o in again] == [o.event.event_id for o in published]


def test_a_task_that_does_not_answer_in_time_is_dispatched_again_then_fails_the_question(
    app: Orchestrator,
) -> None:
    run_id = completed_run(app)
    ev = asked(run_id)
    ask(app, ev)
    q = app.get_question(ev.payload.question_id)
    (task_id,) = q.tasks
    app.decide_question_tool(decided(q, task_id))
    for attempt in (1, 2):
        q = app.get_question(q.question_id)
        assert (q.tasks[task_id].status, q.tasks[task_id].attempt) == ("dispatched", attempt)
        payload = TimerFiredPayload(
            timer_id=new_id(), purpose="question_task_timeout", task_id=task_id, attempt=attempt
        )
        fired = TimerFired.create(payload, tenant_id=TENANT, run_id=q.question_id)
        stale = fired.model_copy(
            update={"event_id": new_id(), "payload": payload.model_copy(update={"attempt": attempt + 5})}
        )
        app.time_out_question_task(stale)
        app.time_out_question_task(fired)
    q = app.get_question(q.question_id)
    assert (q.state, q.failure) == (
        "failed",
        "recall failed: no answer within 3660s of its dispatch (after 2 attempts)",
    )


@pytest.mark.parametrize("case", ["in progress", "unknown", "other tenant"])
def test_a_question_not_about_a_completed_run_of_its_tenant_fails_at_once(app: Orchestrator, case: str) -> None:
    if case == "in progress":
        run_id, tenant, reason = started(app), TENANT, "the run is planning, not completed"
    elif case == "unknown":
        run_id, tenant, reason = new_id(), TENANT, "the run is not known"
    else:
        run_id, tenant, reason = completed_run(app), "tenant-b", "the run is not known"
    ev = asked(run_id, tenant_id=tenant)
    app.ask_question(ev)
    q = app.get_question(ev.payload.question_id)
    assert (q.state, q.failure, q.tasks) == ("failed", reason, {})


def test_denial_empty_memory_and_exhausted_attempts_fail_the_question(app: Orchestrator) -> None:
    run_id = completed_run(app)
    outcomes = []
    for how in ("deny", "empty", "exhausted"):
        ev = asked(run_id)
        ask(app, ev)
        q = app.get_question(ev.payload.question_id)
        (task_id,) = q.tasks
        if how == "deny":
            app.decide_question_tool(decided(q, task_id, "deny"))
        else:
            app.decide_question_tool(decided(q, task_id))
            q = app.get_question(q.question_id)
            if how == "empty":
                app.finish_question_task(succeeded(q, task_id, RecallOutput(passages=[]).model_dump()))
            else:
                app.finish_question_task(failed(q, task_id))
                q = app.get_question(q.question_id)
                assert q.tasks[task_id].attempt == 2 and q.tasks[task_id].status == "dispatched"
                app.finish_question_task(failed(q, task_id))
        q = app.get_question(q.question_id)
        outcomes.append((q.state, q.failure))
    assert outcomes == [
        ("failed", "recall denied by policy: because"),
        ("failed", "the run's memory holds nothing that bears on the question"),
        ("failed", "recall failed: boom (after 2 attempts)"),
    ]


def test_redelivered_and_stale_events_change_nothing(app: Orchestrator) -> None:
    run_id = completed_run(app)
    ev = asked(run_id)
    app.ask_question(ev)
    app.ask_question(ev)
    hold = held(ev)
    app.admit_question(hold)
    app.admit_question(hold)
    q = app.get_question(ev.payload.question_id)
    (task_id,) = q.tasks
    decision = decided(q, task_id)
    app.decide_question_tool(decision)
    version = app.get_question(q.question_id).version
    app.decide_question_tool(decision)
    q = app.get_question(q.question_id)
    stale = succeeded(q, task_id, RecallOutput(passages=[MEMORY]).model_dump())
    app.finish_question_task(stale.model_copy(update={"payload": stale.payload.model_copy(update={"attempt": 9})}))
    assert app.get_question(q.question_id).version == version


def test_a_question_starts_only_once_billing_holds_its_credits(app: Orchestrator) -> None:
    run_id = completed_run(app)
    ev = asked(run_id)
    app.ask_question(ev)
    q = app.get_question(ev.payload.question_id)
    assert (q.state, q.awaiting_credits, q.tasks) == ("asked", True, {}), "no tool runs before the hold"
    app.admit_question(held(ev))
    q = app.get_question(ev.payload.question_id)
    assert not q.awaiting_credits and [t.kind for t in q.tasks.values()] == ["recall"]


def test_a_question_billing_denies_fails_with_the_reason_before_any_tool(app: Orchestrator) -> None:
    run_id = completed_run(app)
    ev = asked(run_id)
    app.ask_question(ev)
    payload = CreditsDeniedPayload(
        required=20,
        balance=7,
        reason="needs 20 credits, 7 available",
        question_id=ev.payload.question_id,
        about_run_id=run_id,
    )
    denied = CreditsDenied.create(payload, tenant_id=TENANT)
    app.refuse_question(denied)
    app.refuse_question(denied)
    q = app.get_question(ev.payload.question_id)
    assert (q.state, q.tasks) == ("failed", {})
    assert q.failure == "no credits for the question: needs 20 credits, 7 available"
    app.admit_question(held(ev))  # a late hold (it cannot come after a denial, but) changes nothing
    assert app.get_question(ev.payload.question_id).version == q.version


def test_a_question_billing_never_answers_for_ends_when_its_credits_timer_fires(app: Orchestrator) -> None:
    run_id = completed_run(app)
    ev = asked(run_id)
    app.ask_question(ev)
    qid = ev.payload.question_id

    def at(originator_id: Any, version: int) -> Question:
        found: Question = app.repository.get(originator_id, version=version)
        return found

    notifications = app.recorder.select_notifications(start=1, limit=1000)
    (asked_note,) = [n for n in notifications if n.topic.endswith("Question.Asked") and str(n.originator_id) == qid]
    asked_event = app.mapper.to_domain_event(asked_note)
    (timer,) = translate_question(asked_event, at)
    assert timer.at == asked_event.timestamp + timedelta(seconds=CREDITS_WAIT_S)
    assert timer.event.payload.purpose == "question_credits_timeout" and is_question_event(timer.event)
    fired = timer.event.model_copy(update={"event_id": new_id()})
    app.time_out_question_task(fired)
    q = app.get_question(qid)
    assert (q.state, q.tasks) == ("failed", {})
    assert q.failure == f"billing did not hold or deny the question's credits within {CREDITS_WAIT_S}s"

    held_first = asked(run_id)
    ask(app, held_first)  # credits held: the timer changes nothing when it fires
    version = app.get_question(held_first.payload.question_id).version
    payload = TimerFiredPayload(timer_id=new_id(), purpose="question_credits_timeout")
    app.time_out_question_task(TimerFired.create(payload, tenant_id=TENANT, run_id=held_first.payload.question_id))
    assert app.get_question(held_first.payload.question_id).version == version


def test_credits_naming_a_question_go_to_the_question() -> None:
    ev = asked(new_id())
    assert is_question_event(held(ev))
    run_hold = CreditsReserved.create(CreditsReservedPayload(amount=5, balance=10), tenant_id=TENANT, run_id=new_id())
    assert not is_question_event(run_hold)


def test_only_a_question_s_tool_and_task_events_are_routed_to_questions() -> None:
    run_task = TaskSucceeded.create(
        TaskSucceededPayload(task_id="t", kind="search", output={}), tenant_id=TENANT, run_id=new_id()
    )
    question_task = run_task.model_copy(update={"payload": run_task.payload.model_copy(update={"kind": "recall"})})
    assert not is_question_event(run_task) and is_question_event(question_task)


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
    index_run(memory, TENANT, IndexInput(run_id=RUN_ID, question=DRAFT.question, draft=DRAFT))
    index_run(memory, TENANT, IndexInput(run_id=other_run, question=DRAFT.question, draft=DRAFT))
    index_run(memory, "tenant-b", IndexInput(run_id=RUN_ID, question=DRAFT.question, draft=DRAFT))

    def runs_of(result: Any) -> set[str]:
        return {p["source_id"].split(":")[1] for p in result.output["passages"]}

    question = "What does the with statement call after the block?"
    scoped = await execute(recall_task(TENANT, question=question, run_id=RUN_ID), memory, memory)
    assert runs_of(scoped) == {RUN_ID} and scoped.usage[0].tool == "recall_memory"
    wide = await execute(recall_task(TENANT, question=question), memory, memory)
    assert runs_of(wide) == {RUN_ID, other_run}
    # A terse follow-up matches nothing alone; the run's own question finds the run's findings.
    terse = recall_task(TENANT, question="Any drawbacks worth knowing?", run_id=RUN_ID)
    assert (await execute(terse, memory, memory)).output["passages"] == []
    helped = await execute(
        recall_task(TENANT, question="Any drawbacks worth knowing?", run_id=RUN_ID, fallback=DRAFT.question),
        memory,
        memory,
    )
    assert runs_of(helped) == {RUN_ID} and helped.usage[0].search_calls == 2
    assert (await execute(recall_task("tenant-c", question=question), memory, memory)).output["passages"] == []
