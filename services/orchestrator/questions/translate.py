"""Stored Question events -> contract events (the only place the two meet for questions)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from contracts.ids import derived_id
from contracts.question import (
    QUESTION_CREDITS_TIMEOUT,
    QUESTION_TIMEOUT,
    AnswerOutput,
    QuestionAnswered,
    QuestionAnsweredPayload,
    QuestionFailed,
    QuestionFailedPayload,
)
from contracts.timer import TimerFiredPayload
from quarry_runtime.outbox import Outgoing
from services.orchestrator.emitter import Emitter
from services.orchestrator.questions.domain import CREDITS_WAIT_S, Question, question_task_input

# Questions carry no plan of their own; their tools are open to every plan.
QUESTION_PLAN = "free"

QuestionAt = Callable[[Any, int], Question]
SignQuestion = Callable[[Question, str], str | None]


def translate_question(
    domain_event: Any, question_at: QuestionAt, sign: SignQuestion = lambda q, tool: None
) -> Sequence[Outgoing]:
    """What one stored Question event publishes. The saga's correlation id is the question id."""
    name = type(domain_event).__name__
    q = question_at(domain_event.originator_id, domain_event.originator_version)
    e = Emitter.of_saga(domain_event, q, q.question_id)

    if name == "Asked" and q.awaiting_credits:
        # Billing's hold or denial ends the wait; this timer ends it if neither ever comes.
        timer_id = derived_id(q.question_id, f"timer:{QUESTION_CREDITS_TIMEOUT}")
        timer = TimerFiredPayload(timer_id=timer_id, purpose=QUESTION_CREDITS_TIMEOUT)
        e.timer(domain_event.timestamp + timedelta(seconds=CREDITS_WAIT_S), timer)
    elif name == "TaskRequested":
        task = q.tasks[domain_event.task_id]
        e.request_tool(task, QUESTION_PLAN, sign(q, task.tool))
    elif name == "TaskDispatched":
        task = q.tasks[domain_event.task_id]
        e.dispatch(task, question_task_input(q, task))
        # The attempt's deadline, as a durable timer: a task lost with its worker does not hang the question.
        timer_id = derived_id(q.question_id, f"timer:{QUESTION_TIMEOUT}:{task.task_id}:{domain_event.attempt}")
        timer = TimerFiredPayload(
            timer_id=timer_id, purpose=QUESTION_TIMEOUT, task_id=task.task_id, attempt=domain_event.attempt
        )
        e.timer(domain_event.timeout_at, timer)
    elif name == "Answered":
        answer = next(t.output for t in q.tasks_of("answer") if t.output)
        written = AnswerOutput.model_validate(answer)
        answered = QuestionAnsweredPayload(
            question_id=q.question_id,
            run_id=q.run_id,
            answer=written.answer,
            citations=written.citations,
            usage_event_ids=q.usage_event_ids(),
        )
        e.emit(QuestionAnswered, answered)
    elif name == "GuardrailTripped":
        e.guardrail_tripped(domain_event, question_id=q.question_id)
    elif name == "Failed":
        failed = QuestionFailedPayload(
            question_id=q.question_id,
            run_id=q.run_id,
            reason=q.failure or "failed",
            usage_event_ids=q.usage_event_ids(),
        )
        e.emit(QuestionFailed, failed)
    return e.out
