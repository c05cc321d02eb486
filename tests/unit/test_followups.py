"""Follow-up questions: the Question aggregate and its use cases, on in-memory storage."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.domain import DomainEvent

from contracts.credits import CreditsDenied, CreditsDeniedPayload, CreditsReserved, CreditsReservedPayload
from contracts.ids import new_id
from contracts.question import AnswerInput, AnswerOutput, QuestionAnswered, RecallOutput, is_question_event
from contracts.task import TaskDispatched, TaskSucceeded, TaskSucceededPayload
from contracts.timer import TimerFired, TimerFiredPayload
from contracts.tool import ToolRequested
from services.analyst.application.answer import compose
from services.orchestrator.application import Orchestrator
from services.orchestrator.questions.domain import CREDITS_WAIT_S, Question, question_task_input
from services.orchestrator.questions.translate import translate_question
from tests.support.orchestrator import started
from tests.support.questions import MEMORY, TENANT, app, ask, asked, completed_run, decided, failed, held, succeeded

__all__ = ["app"]  # the fixture


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
    assert isinstance(asked_event, DomainEvent)
    (timer,) = translate_question(asked_event, at)
    assert timer.at == asked_event.timestamp + timedelta(seconds=CREDITS_WAIT_S)
    assert timer.event.payload.purpose == "question_credits_timeout" and is_question_event(timer.event)
    fired = timer.event.model_copy(update={"event_id": new_id()})
    assert isinstance(fired, TimerFired)
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
