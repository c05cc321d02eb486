"""The Question aggregate: a follow-up question on a finished run, driven like a small run.

It starts once billing holds its credits (a denial ends it before any tool runs). Two tasks:
recall (the retriever searches the tenant's memory, only the run's part of it when the scope is
the run) then answer (the analyst writes a cited answer from what was recalled).
Each goes requested (out to policy) -> dispatched -> succeeded, or is retried at once while
attempts remain, or fails the question (also when it does not answer in time). Pure: no I/O, no clock. `bus_events` holds the bus
events already applied, so a redelivery changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from contracts.ids import derived_id
from contracts.question import ANSWER_TOOL, RECALL_TOOL, AnswerInput, RecallInput, RecallOutput
from services.orchestrator.domain import TaskState
from services.orchestrator.tasks import TaskPolicy, answer_deadline

TERMINAL = frozenset({"answered", "failed"})
RECALL_LIMIT = 6
# How long a question waits for billing to hold or deny its credits before it ends (a durable
# timer: billing down that long, or an answer lost, must not leave the question asked for ever).
CREDITS_WAIT_S = 120

# Which lane and tool each task of a question takes. A follow-up is short: no backoff, two tries.
QUESTION_POLICIES: dict[str, TaskPolicy] = {
    "recall": TaskPolicy("retriever", RECALL_TOOL, max_attempts=2, timeout_s=60),
    "answer": TaskPolicy("analyst", ANSWER_TOOL, max_attempts=2, timeout_s=120),
}


class QuestionError(Exception):
    """A command the question's current state refuses."""


class Question(Aggregate):
    """One follow-up question, folded from its events."""

    @staticmethod
    def create_id(question_id: str) -> uuid.UUID:
        return uuid.UUID(question_id)

    @event("Asked")
    def __init__(
        self,
        question_id: str,
        run_id: str,
        tenant_id: str,
        user_id: str | None,
        roles: list[str],
        text: str,
        scope: str,
        cause: str,
        traceparent: str | None = None,
        run_question: str = "",
        awaiting_credits: bool = False,
    ) -> None:
        self.question_id = question_id
        self.run_id = run_id
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.roles = list(roles)
        self.text = text
        self.scope = scope
        self.traceparent = traceparent
        self.run_question = run_question
        # False for questions asked before billing held their credits first.
        self.awaiting_credits = awaiting_credits
        self.state = "asked"  # asked | answered | failed
        self.tasks: dict[str, TaskState] = {}
        self.failure: str | None = None
        self.guardrail_trips: list[dict[str, Any]] = []
        self.bus_events: set[str] = {cause}

    # -- queries ---------------------------------------------------------------------------

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL

    def has_seen(self, bus_event_id: str) -> bool:
        return bus_event_id in self.bus_events

    def tasks_of(self, kind: str) -> list[TaskState]:
        return [t for t in self.tasks.values() if t.kind == kind]

    def usage_event_ids(self) -> list[str]:
        return [u for t in self.tasks.values() for u in t.usage_event_ids]

    def task(self, task_id: str) -> TaskState:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise QuestionError(f"question {self.question_id} has no task {task_id}") from None

    def _live(self) -> None:
        if self.is_terminal:
            raise QuestionError(f"question {self.question_id} is already {self.state}")

    # -- credits ---------------------------------------------------------------------------

    def hold_credits(self, amount: int, cause: str) -> None:
        """Billing holds the question's credits: its tasks may start."""
        self._live()
        if not self.awaiting_credits:
            raise QuestionError(f"question {self.question_id} is not waiting for credits")
        self._credits_held(amount=amount, cause=cause)

    @event("CreditsHeld")
    def _credits_held(self, amount: int, cause: str) -> None:
        self.awaiting_credits = False
        self.bus_events.add(cause)

    # -- guardrails ------------------------------------------------------------------------

    def reject_injection(self, counts: dict[str, int]) -> None:
        """The question reads as instructions to the model: it ends before any tool runs."""
        self._live()
        self._guardrail_tripped(guardrail="prompt_injection", where="question", action="rejected", counts=counts)
        kinds = ", ".join(sorted(counts))
        self._failed(reason=f"guardrail prompt_injection: the question reads as instructions to the model ({kinds})")

    @event("GuardrailTripped")
    def _guardrail_tripped(self, guardrail: str, where: str, action: str, counts: dict[str, int]) -> None:
        self.guardrail_trips.append({"guardrail": guardrail, "where": where, "action": action, "counts": counts})

    # -- tasks -----------------------------------------------------------------------------

    def request_task(self, task_id: str, kind: str, task_input: dict[str, Any]) -> None:
        """Ask policy for the task's tool; it is dispatched once allowed."""
        self._live()
        if task_id in self.tasks:
            raise QuestionError(f"task {task_id} was already requested")
        policy = QUESTION_POLICIES[kind]
        self._task_requested(
            task_id=task_id,
            kind=kind,
            role=policy.role,
            tool=policy.tool,
            task_input=task_input,
            max_attempts=policy.max_attempts,
            timeout_s=policy.timeout_s,
        )

    @event("TaskRequested")
    def _task_requested(
        self,
        task_id: str,
        kind: str,
        role: str,
        tool: str,
        task_input: dict[str, Any],
        max_attempts: int,
        timeout_s: float,
    ) -> None:
        self.tasks[task_id] = TaskState(task_id, kind, role, tool, dict(task_input), max_attempts, timeout_s)

    def authorise_task(
        self, task_id: str, policy_ids: list[str], policy_version: str, cause: str, now: datetime
    ) -> None:
        """Policy allowed the tool: dispatch the first attempt."""
        self._live()
        task = self.task(task_id)
        if task.status != "requested":
            raise QuestionError(f"task {task_id} is {task.status}, not awaiting policy")
        self._task_authorised(task_id=task_id, policy_ids=policy_ids, policy_version=policy_version, cause=cause)
        self._dispatch(task, now)

    def _dispatch(self, task: TaskState, now: datetime) -> None:
        timeout_at = now + answer_deadline(task.timeout_s)
        self._task_dispatched(task_id=task.task_id, attempt=task.attempt + 1, timeout_at=timeout_at)

    @event("TaskAuthorised")
    def _task_authorised(self, task_id: str, policy_ids: list[str], policy_version: str, cause: str) -> None:
        self.bus_events.add(cause)

    @event("TaskDispatched")
    def _task_dispatched(self, task_id: str, attempt: int, timeout_at: datetime) -> None:
        task = self.tasks[task_id]
        task.status = "dispatched"
        task.attempt = attempt

    def deny_task(self, task_id: str, reasons: list[str], policy_ids: list[str], cause: str) -> None:
        self._live()
        self.task(task_id)
        self._task_denied(task_id=task_id, reasons=reasons, policy_ids=policy_ids, cause=cause)

    @event("TaskDenied")
    def _task_denied(self, task_id: str, reasons: list[str], policy_ids: list[str], cause: str) -> None:
        task = self.tasks[task_id]
        task.status = "denied"
        task.reason = "; ".join(reasons) or "denied by policy"
        self.bus_events.add(cause)

    def record_success(self, task_id: str, output: dict[str, Any], usage_event_ids: list[str], cause: str) -> None:
        self._live()
        task = self.task(task_id)
        if task.status in ("succeeded", "failed", "denied"):
            raise QuestionError(f"task {task_id} is already {task.status}")
        self._task_succeeded(task_id=task_id, output=output, usage_event_ids=usage_event_ids, cause=cause)

    @event("TaskSucceeded")
    def _task_succeeded(self, task_id: str, output: dict[str, Any], usage_event_ids: list[str], cause: str) -> None:
        task = self.tasks[task_id]
        task.status = "succeeded"
        task.output = output
        task.usage_event_ids = list(dict.fromkeys([*task.usage_event_ids, *usage_event_ids]))
        self.bus_events.add(cause)

    def record_failure(
        self, task_id: str, reason: str, retryable: bool, usage_event_ids: list[str], cause: str, now: datetime
    ) -> None:
        """An attempt failed (or timed out): dispatch the next at once while attempts remain, else fail the task."""
        self._live()
        task = self.task(task_id)
        if task.status != "dispatched":
            raise QuestionError(f"task {task_id} is {task.status}, not running")
        if retryable and task.attempt < task.max_attempts:
            self._attempt_failed(task_id=task_id, reason=reason, usage_event_ids=usage_event_ids, cause=cause)
            self._dispatch(task, now)
        else:
            self._task_failed(task_id=task_id, reason=reason, usage_event_ids=usage_event_ids, cause=cause)

    @event("AttemptFailed")
    def _attempt_failed(self, task_id: str, reason: str, usage_event_ids: list[str], cause: str) -> None:
        task = self.tasks[task_id]
        task.errors.append(f"attempt {task.attempt}: {reason}")
        task.usage_event_ids = list(dict.fromkeys([*task.usage_event_ids, *usage_event_ids]))
        self.bus_events.add(cause)

    @event("TaskFailed")
    def _task_failed(self, task_id: str, reason: str, usage_event_ids: list[str], cause: str) -> None:
        task = self.tasks[task_id]
        task.status = "failed"
        task.reason = reason if not task.errors else f"{reason} (after {task.attempt} attempts)"
        task.usage_event_ids = list(dict.fromkeys([*task.usage_event_ids, *usage_event_ids]))
        self.bus_events.add(cause)

    # -- ending ----------------------------------------------------------------------------

    def answer(self) -> None:
        self._live()
        if not all(t.done for t in self.tasks.values()) or not self.tasks_of("answer"):
            raise QuestionError(f"question {self.question_id} has no answer yet")
        self._answered()

    @event("Answered")
    def _answered(self) -> None:
        self.state = "answered"

    def fail(self, reason: str) -> None:
        self._live()
        self._failed(reason=reason)

    @event("Failed")
    def _failed(self, reason: str) -> None:
        self.state = "failed"
        self.failure = reason


# -- the question's workflow: recall, then answer ---------------------------------------------


def question_task_id(question: Question, kind: str) -> str:
    return derived_id(question.question_id, f"task:{kind}:0")


def advance(question: Question) -> None:
    """Request the next task the question needs, or end it."""
    if question.is_terminal or question.awaiting_credits:
        return
    for task in question.tasks.values():
        if task.status in ("failed", "denied"):
            verb = "denied by policy" if task.status == "denied" else "failed"
            question.fail(f"{task.kind} {verb}: {task.reason}")
            return
    recalls = question.tasks_of("recall")
    if not recalls:
        scope_run = question.run_id if question.scope == "run" else None
        recall = RecallInput(
            question=question.text, run_id=scope_run, limit=RECALL_LIMIT, fallback=question.run_question or None
        )
        question.request_task(question_task_id(question, "recall"), "recall", recall.model_dump())
        return
    if not all(t.done for t in recalls):
        return
    answers = question.tasks_of("answer")
    if not answers:
        if not recalled(question).passages:
            where = "the run's memory" if question.scope == "run" else "the tenant's memory"
            question.fail(f"{where} holds nothing that bears on the question")
            return
        # The passages are built into the input at dispatch (`question_task_input`), not stored again.
        question.request_task(question_task_id(question, "answer"), "answer", {"question": question.text})
        return
    if all(t.done for t in answers):
        question.answer()


def recalled(question: Question) -> RecallOutput:
    output = next((t.output for t in question.tasks_of("recall") if t.output), None)
    return RecallOutput.model_validate(output) if output else RecallOutput(passages=[])


def question_task_input(question: Question, task: TaskState) -> dict[str, Any]:
    """A question task's whole input at dispatch: the answer reads the recalled passages."""
    if task.kind == "answer":
        return AnswerInput(
            question_id=question.question_id, question=question.text, passages=recalled(question).passages
        ).model_dump()
    return task.input
