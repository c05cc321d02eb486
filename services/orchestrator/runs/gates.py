"""A run's state machine and the human gates on it: approvals and plan reviews. Pure.

The run moves through the states of `TRANSITIONS`; a command that would take it anywhere else
is refused with `RunError` and records nothing. An approval parks the run in
`waiting_approval` and a plan review in `awaiting_plan_review` until a human decides or the
deadline passes; the run then resumes where it was, or ends.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from contracts.ids import derived_id
from contracts.run import MAX_SUB_QUESTIONS, SUB_QUESTION_MAX_CHARS
from services.orchestrator.runs.states import (
    KEPT_AFTER_END,
    PLAN_REVIEW,
    TERMINAL,
    TRANSITIONS,
    Answer,
    Approval,
    RunError,
)
from services.orchestrator.saga import TaskSaga, TaskState
from services.orchestrator.tasks import OPTIONAL


def approval_id_for(run_id: str, subject: str) -> str:
    """The id of a run's approval of `subject`: asking for it again asks for the same approval."""
    return derived_id(run_id, f"approval:{subject}")


def _decide(run: Any, approval_id: str, status: str, by: str | None, comment: str) -> Approval:
    """Record a human's (or the clock's) answer to the approval or plan review."""
    approval: Approval = run.approvals[approval_id]
    approval.status, approval.decided_by, approval.comment = status, by, comment
    return approval


def _decided_by(outcome: str, by: str | None, comment: str) -> str:
    return f"{outcome} by {by or 'an approver'}" + (f": {comment}" if comment else "")


class GatedRun(TaskSaga):
    """The states and gates of a run; `runs.domain.Run` adds its steps and its ending."""

    if TYPE_CHECKING:  # set by the run's created event
        run_id: str
        depth: int
        approval_timeout_s: int
        approvals: dict[str, Approval]
        sub_questions: list[str]
        failure: str | None
        cancel_reason: str | None

    # -- states ----------------------------------------------------------------------------

    def _move(self, state: str) -> None:
        """Change state along an allowed transition; anything else is a bug or a stale command."""
        if state == self.state:
            return
        self._check_move(state)
        self.state = state
        if state in TERMINAL:
            self._shed()

    def _check_move(self, state: str) -> None:
        if state != self.state and state not in TRANSITIONS[self.state]:
            raise RunError(f"run {self.run_id} cannot go from {self.state} to {state}")

    def _shed(self) -> None:
        """An ended run keeps what is read about it afterwards: its report and its draft (the next
        run of its monitor compares with it) and what it was billed for. Task inputs and the other
        outputs stay in the log for audit and replay, and leave the state its snapshot holds."""
        for task in self.tasks.values():
            task.input = {}
            if task.kind not in KEPT_AFTER_END:
                task.output = None

    # -- approvals -------------------------------------------------------------------------

    def pending_approval(self) -> Approval | None:
        return next((a for a in self.approvals.values() if a.status == "pending"), None)

    def request_approval(
        self, subject: str, reason: str, now: datetime, cause: str | None = None, timeout_s: int | None = None
    ) -> None:
        """Wait for a human: `timeout_s` when the rule asking says how long, else the run's own."""
        if self.pending_approval() is not None:
            raise RunError(f"run {self.run_id} already waits for an approval")
        self._check_move("waiting_approval")
        self.trigger_event(
            type(self).ApprovalRequested,
            approval_id=approval_id_for(self.run_id, subject),
            subject=subject,
            reason=reason,
            deadline=now + timedelta(seconds=timeout_s or self.approval_timeout_s),
            cause=cause,
        )

    def approve(self, approval_id: str | None, answer: Answer) -> Approval:
        approval = self._pending(approval_id, review=False)
        self._check_move(approval.resume_state)
        self.trigger_event(type(self).Approved, approval_id=approval.approval_id, **asdict(answer))
        return approval

    def refuse(self, approval_id: str | None, answer: Answer) -> None:
        approval = self._pending(approval_id, review=False)
        self._check_move("rejected")
        self.trigger_event(type(self).Refused, approval_id=approval.approval_id, **asdict(answer))

    def optional_task_of(self, approval: Approval) -> TaskState | None:
        """The task an approval is about, when the run can go on without it (see tasks.OPTIONAL)."""
        task = self.tasks.get(approval.subject.removeprefix("task:")) if approval.subject.startswith("task:") else None
        return task if task is not None and task.kind in OPTIONAL else None

    def drop_task(self, approval_id: str | None, outcome: str, answer: Answer) -> None:
        """A tool use the run can do without was refused by a human (or not approved in time):
        that task is denied and the run goes on without it."""
        approval = self._pending(approval_id)
        if self.optional_task_of(approval) is None:
            raise RunError(f"approval {approval.approval_id} is not about a step the run can do without")
        self._check_move(approval.resume_state)
        self.trigger_event(type(self).TaskDropped, approval_id=approval.approval_id, outcome=outcome, **asdict(answer))

    def expire(self, approval_id: str, now: datetime, cause: str | None = None) -> None:
        approval = self._pending(approval_id)
        if now < approval.deadline:
            raise RunError(f"approval {approval_id} is not due before {approval.deadline.isoformat()}")
        self._check_move("expired")
        self.trigger_event(type(self).Expired, approval_id=approval_id, cause=cause)

    def _pending(self, approval_id: str | None, review: bool | None = None) -> Approval:
        """The pending approval (`approval_id` when given); `review` True: it must be a plan
        review, False: it must not be one (an approval's answer does not decide a plan)."""
        pending = self.pending_approval()
        if pending is None or (approval_id is not None and pending.approval_id != approval_id):
            raise RunError(f"run {self.run_id} has no pending approval {approval_id or ''}".rstrip())
        if review is not None and (pending.subject == PLAN_REVIEW) != review:
            what = "a review of its plan" if pending.subject == PLAN_REVIEW else "an approval, not a plan review"
            raise RunError(f"run {self.run_id} waits for {what}")
        return pending

    # -- plan review -----------------------------------------------------------------------

    def max_sub_questions(self) -> int:
        return MAX_SUB_QUESTIONS.get(self.depth, max(MAX_SUB_QUESTIONS.values()))

    def request_plan_review(self, now: datetime) -> None:
        """The plan is made: wait for a human to continue with it (edited or not) or cancel."""
        if self.pending_approval() is not None:
            raise RunError(f"run {self.run_id} already waits for an approval")
        self._check_move("awaiting_plan_review")
        deadline = now + timedelta(seconds=self.approval_timeout_s)
        review_id = approval_id_for(self.run_id, PLAN_REVIEW)
        self.trigger_event(type(self).PlanReviewRequested, review_id=review_id, deadline=deadline)

    def revise_plan(self, review_id: str | None, sub_questions: list[str], answer: Answer) -> None:
        """Go on with the reviewed sub-questions: 1 to the depth's most, none empty or too long."""
        review = self._pending(review_id, review=True)
        cleaned = [" ".join(q.split()) for q in sub_questions]
        if not cleaned or len(cleaned) > self.max_sub_questions():
            raise RunError(f"a plan of depth {self.depth} holds 1 to {self.max_sub_questions()} sub-questions")
        if any(not q or len(q) > SUB_QUESTION_MAX_CHARS for q in cleaned):
            raise RunError(f"each sub-question holds 1 to {SUB_QUESTION_MAX_CHARS} characters")
        if len({q.casefold() for q in cleaned}) != len(cleaned):
            raise RunError("the sub-questions must differ from each other")
        self._check_move(review.resume_state)
        self.trigger_event(
            type(self).PlanRevised, review_id=review.approval_id, sub_questions=cleaned, **asdict(answer)
        )

    def cancel_plan(self, review_id: str | None, answer: Answer) -> None:
        """The reviewer stops the run before it searches: it ends cancelled (unused credits refunded)."""
        review = self._pending(review_id, review=True)
        self._check_move("cancelled")
        self.trigger_event(type(self).PlanCancelled, review_id=review.approval_id, **asdict(answer))

    # -- events ----------------------------------------------------------------------------

    class ApprovalRequested(Aggregate.Event):
        approval_id: str
        subject: str
        reason: str
        deadline: datetime
        cause: str | None = None

        def apply(self, run: Any) -> None:
            run.approvals[self.approval_id] = Approval(
                self.approval_id, self.subject, self.reason, self.deadline, resume_state=run.state
            )
            queued = run.tasks.get(self.subject.removeprefix("task:"))
            if queued is not None and queued.status == "awaiting_approval":
                queued.status, queued.reason = "requested", ""  # its approval's turn: policy's answer stands
            run._move("waiting_approval")
            run._applied(self.cause)

    class _Answered(Aggregate.Event):
        """A human's answer to an approval: which, who, their comment, the bus event that carried it."""

        approval_id: str
        by: str | None
        comment: str
        cause: str

    class Approved(_Answered):
        def apply(self, run: Any) -> None:
            approval = _decide(run, self.approval_id, "approved", self.by, self.comment)
            run._move(approval.resume_state)
            run.bus_events.add(self.cause)

    class Refused(_Answered):
        def apply(self, run: Any) -> None:
            _decide(run, self.approval_id, "refused", self.by, self.comment)
            run.failure = _decided_by("approval refused", self.by, self.comment)
            run._move("rejected")
            run.bus_events.add(self.cause)

    class TaskDropped(Aggregate.Event):
        approval_id: str
        outcome: str
        by: str | None
        comment: str
        cause: str | None

        def apply(self, run: Any) -> None:
            approval = _decide(run, self.approval_id, self.outcome, self.by, self.comment)
            task = run.tasks[approval.subject.removeprefix("task:")]
            task.status = "denied"
            task.reason = (
                _decided_by("approval refused", self.by, self.comment)
                if self.outcome == "refused"
                else f"no approval before {approval.deadline.isoformat()}"
            )
            run._move(approval.resume_state)
            run._applied(self.cause)

    class Expired(Aggregate.Event):
        approval_id: str
        cause: str | None = None

        def apply(self, run: Any) -> None:
            run._applied(self.cause)
            approval = run.approvals[self.approval_id]
            approval.status = "expired"
            wanted = "review of the plan" if approval.subject == PLAN_REVIEW else "approval"
            run.failure = f"no {wanted} before {approval.deadline.isoformat()}"
            run._move("expired")

    class PlanReviewRequested(Aggregate.Event):
        review_id: str
        deadline: datetime

        def apply(self, run: Any) -> None:
            reason = "the run asks for a review of its plan before it searches"
            run.approvals[self.review_id] = Approval(
                self.review_id, PLAN_REVIEW, reason, self.deadline, resume_state="planning"
            )
            run._move("awaiting_plan_review")

    class PlanRevised(Aggregate.Event):
        review_id: str
        sub_questions: list[str]
        by: str | None
        comment: str
        cause: str

        def apply(self, run: Any) -> None:
            review = _decide(run, self.review_id, "approved", self.by, self.comment)
            run.sub_questions = list(self.sub_questions)
            run._move(review.resume_state)
            run.bus_events.add(self.cause)

    class PlanCancelled(Aggregate.Event):
        review_id: str
        by: str | None
        comment: str
        cause: str

        def apply(self, run: Any) -> None:
            _decide(run, self.review_id, "refused", self.by, self.comment)
            reason = f"plan review: cancelled by {self.by or 'a reviewer'}" + (
                f": {self.comment}" if self.comment else ""
            )
            run.cancel_reason = reason[:500]
            run.failure = reason
            run._move("cancelled")
            run.bus_events.add(self.cause)
