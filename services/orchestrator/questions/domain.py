"""The Question aggregate: a follow-up question on a finished run, driven like a small run.

It starts once billing holds its credits (a denial ends it before any tool runs). Two tasks:
recall (the retriever searches the tenant's memory, only the run's part of it when the scope is
the run) then answer (the analyst writes a cited answer from what was recalled).
Each goes requested (out to policy) -> dispatched -> succeeded, or is retried at once while
attempts remain, or fails the question (also when it does not answer in time). Pure: no I/O, no clock. `bus_events` holds the bus
events already applied, so a redelivery changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import event

from contracts.ids import derived_id
from contracts.question import ANSWER_TOOL, RECALL_TOOL, AnswerInput, RecallInput, RecallOutput
from services.orchestrator.errors import OrchestratorError
from services.orchestrator.moved import answer_to_old_topics
from services.orchestrator.owned import id_from
from services.orchestrator.saga import TaskSaga, TaskState
from services.orchestrator.tasks import TaskPolicy

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


class QuestionError(OrchestratorError):
    """A command the question's current state refuses."""


class Question(TaskSaga):
    """One follow-up question, folded from its events."""

    policies = QUESTION_POLICIES
    error = QuestionError
    terminal = TERMINAL

    create_id = id_from("question_id")

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
        self._begin("asked", tenant_id, user_id, roles, traceparent, cause)  # asked | answered | failed
        self.question_id = question_id
        self.run_id = run_id
        self.text = text
        self.scope = scope
        self.run_question = run_question
        # False for questions asked before billing held their credits first.
        self.awaiting_credits = awaiting_credits

    # -- queries ---------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return f"question {self.question_id}"

    def _check_live(self) -> None:
        if self.is_terminal:
            raise QuestionError(f"question {self.question_id} is already {self.state}")

    # -- credits ---------------------------------------------------------------------------

    def hold_credits(self, amount: int, cause: str) -> None:
        """Billing holds the question's credits: its tasks may start."""
        self._check_awaiting_credits()
        self._credits_held(amount=amount, cause=cause)

    def _check_awaiting_credits(self) -> None:
        self._check_live()
        if not self.awaiting_credits:
            raise QuestionError(f"{self.label} is not waiting for credits")

    @event("CreditsHeld")
    def _credits_held(self, amount: int, cause: str) -> None:
        self.awaiting_credits = False
        self.bus_events.add(cause)

    # -- guardrails ------------------------------------------------------------------------

    def reject_injection(self, counts: dict[str, int]) -> None:
        """The question reads as instructions to the model: it ends before any tool runs."""
        self._check_live()
        self.trip_guardrail("prompt_injection", "question", "rejected", counts)
        kinds = ", ".join(sorted(counts))
        self._failed(reason=f"guardrail prompt_injection: the question reads as instructions to the model ({kinds})")

    # -- tasks -----------------------------------------------------------------------------

    def record_failure(
        self, task_id: str, reason: str, retryable: bool, usage_event_ids: list[str], cause: str, now: datetime
    ) -> None:
        """An attempt failed (or timed out): dispatch the next at once while attempts remain, else fail the task."""
        self._check_live()
        task = self.task(task_id)
        if task.status != "dispatched":
            raise QuestionError(f"task {task_id} is {task.status}, not running")
        if retryable and task.attempt < task.max_attempts:
            self._attempt_failed(task_id=task_id, reason=reason, usage_event_ids=usage_event_ids, cause=cause)
            self._dispatch(task, now)
        else:
            self._fail_task(task, reason, usage_event_ids, cause)

    @event("AttemptFailed")
    def _attempt_failed(self, task_id: str, reason: str, usage_event_ids: list[str], cause: str) -> None:
        self._note_failed_attempt(task_id, self.tasks[task_id].attempt, reason, usage_event_ids, cause)

    # -- ending ----------------------------------------------------------------------------

    def answer(self) -> None:
        self._check_live()
        if not all(t.done for t in self.tasks.values()) or not self.tasks_of("answer"):
            raise QuestionError(f"question {self.question_id} has no answer yet")
        self._answered()

    @event("Answered")
    def _answered(self) -> None:
        self.state = "answered"

    def fail(self, reason: str) -> None:
        self._check_live()
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


answer_to_old_topics("services.orchestrator.followup", Question)
