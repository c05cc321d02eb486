"""The Run aggregate: every fact about a run is one of its stored events. Pure: no I/O, no clock.

The run moves through the states of `TRANSITIONS`; a command that would take it anywhere else
is refused with `RunError` and records nothing. Its tasks go requested (a tool request is out
to policy) -> dispatched (attempt n, with a deadline) -> succeeded, or back to waiting for a
retry, or failed for good. `bus_events` holds the ids of the bus events already applied, in
the same stored event as their effect, so a redelivered event changes nothing.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.domain import event

from contracts.run import MAX_SUB_QUESTIONS, SUB_QUESTION_MAX_CHARS
from services.orchestrator.moved import answer_to_old_topics
from services.orchestrator.saga import TaskSaga, TaskState
from services.orchestrator.tasks import OPTIONAL, POLICIES

TERMINAL = frozenset({"completed", "failed", "rejected", "cancelled", "expired"})

TRANSITIONS: dict[str, frozenset[str]] = {
    "requested": frozenset({"admitted", "rejected", "cancelled"}),
    "admitted": frozenset({"planning", "failed", "cancelled"}),
    "planning": frozenset({"running", "waiting_approval", "awaiting_plan_review", "failed", "cancelled"}),
    "awaiting_plan_review": frozenset({"planning", "expired", "cancelled"}),
    "running": frozenset({"waiting_approval", "indexing", "failed", "cancelled"}),
    "waiting_approval": frozenset({"planning", "running", "indexing", "reporting", "rejected", "expired", "cancelled"}),
    "indexing": frozenset({"waiting_approval", "reporting", "failed", "cancelled"}),
    "reporting": frozenset({"waiting_approval", "completed", "failed", "cancelled"}),
    **{state: frozenset() for state in TERMINAL},
}

# The state a run is in while a task of this kind is its current step.
STATE_OF_STEP = {
    "plan": "planning",
    "search": "running",
    "fetch": "running",
    "read": "running",
    "collect": "running",
    "synthesise": "running",
    "verify": "running",
    "index": "indexing",
    "report": "reporting",
}


# The step whose success makes an earlier step's output unneeded by anything still to come.
CONSUMES = {"collect": ("search", "fetch", "read"), "synthesise": ("collect",)}
# What an ended run still needs of its tasks' outputs (see Run._shed).
KEPT_AFTER_END = frozenset({"synthesise", "report"})
# A tool request policy holds back for a while (a rate limit) is asked again after the wait it
# names, this many times at most and for waits up to this long; past either it is a denial.
MAX_THROTTLES = 5
MAX_THROTTLE_WAIT_S = 3600.0
# The subject of the approval a run with `review_plan` waits for: its plan, edited or not.
PLAN_REVIEW = "plan"


# The fields a run's state has had since version 2 of its snapshots, as a version 1 run had them.
V1_DEFAULTS: dict[str, Any] = {
    "failure_fault": "platform",
    "review_plan": False,
    "sources": None,
    "datasets": None,
    "length": "standard",
    "target_words": None,
    "template": None,
    "search_tallies": {},
    "passages_kept": None,
    "guardrail_trips": [],
}


class RunError(Exception):
    """A command that the run's current state refuses."""


@dataclass
class Approval:
    approval_id: str
    subject: str  # "publish", "plan" (a plan review), or "task:<task id>" for a tool use policy wants approved
    reason: str
    deadline: datetime
    resume_state: str
    status: str = "pending"  # pending | approved | refused | expired
    decided_by: str | None = None
    comment: str = ""


class Run(TaskSaga):
    """One research run, folded from its events."""

    policies = POLICIES
    error = RunError
    terminal = TERMINAL

    # Version 2 of a run's snapshotted state has every field below; version 1 lacked some.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A snapshot from before these fields existed: what such a run had instead. A failure then
        was the platform's (refunded, as it was then), and no plan review was asked for."""
        for name, default in V1_DEFAULTS.items():
            state.setdefault(name, copy.deepcopy(default))

    @staticmethod
    def create_id(run_id: str) -> uuid.UUID:
        return uuid.UUID(run_id)

    @event("Requested")
    def __init__(
        self,
        run_id: str,
        tenant_id: str,
        user_id: str | None,
        roles: list[str],
        question: str,
        depth: int,
        max_sources: int,
        cause: str,
        traceparent: str | None = None,
        approval_required: bool = False,
        approval_timeout_s: int = 7 * 24 * 3600,
        monitor_id: str | None = None,
        previous_run_id: str | None = None,
        pii_policy: str = "redact",
        sources: list[str] | None = None,
        datasets: list[str] | None = None,
        length: str = "standard",
        target_words: int | None = None,
        template: dict[str, Any] | None = None,
        review_plan: bool = False,
    ) -> None:
        self.run_id = run_id
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.roles = list(roles)
        self.question = question
        self.depth = depth
        self.max_sources = max_sources
        self.traceparent = traceparent
        self.approval_required = approval_required
        self.approval_timeout_s = approval_timeout_s
        self.review_plan = review_plan
        self.monitor_id = monitor_id
        self.previous_run_id = previous_run_id
        self.pii_policy = pii_policy
        self.sources = list(sources) if sources else None
        self.datasets = list(datasets) if datasets else None
        self.length = length
        self.target_words = target_words
        # The research template as resolved by the gateway: id, version, name, outline, tone.
        self.template = dict(template) if template else None
        self.search_tallies: dict[str, dict[str, Any]] = {}
        self.passages_kept: int | None = None
        self.guardrail_trips: list[dict[str, Any]] = []
        # Whose fault a failure was (contracts.task.Fault): who pays for it.
        self.failure_fault = "platform"
        self.state = "requested"
        self.plan = "free"
        self.credits_reserved = 0
        self.sub_questions: list[str] = []
        self.tasks: dict[str, TaskState] = {}
        self.approvals: dict[str, Approval] = {}
        self.cancel_reason: str | None = None
        self.failure: str | None = None
        self.bus_events: set[str] = {cause}

    # -- queries ---------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return f"run {self.run_id}"

    def in_flight(self) -> list[TaskState]:
        return [t for t in self.tasks.values() if t.in_flight]

    def pending_approval(self) -> Approval | None:
        return next((a for a in self.approvals.values() if a.status == "pending"), None)

    # -- lifecycle -------------------------------------------------------------------------

    def _move(self, state: str) -> None:
        """Change state along an allowed transition; anything else is a bug or a stale command."""
        if state == self.state:
            return
        if state not in TRANSITIONS[self.state]:
            raise RunError(f"run {self.run_id} cannot go from {self.state} to {state}")
        self.state = state
        if state in TERMINAL:
            self._shed()

    def _shed(self) -> None:
        """An ended run keeps what is read about it afterwards: its report and its draft (the next
        run of its monitor compares with it) and what it was billed for. Task inputs and the other
        outputs stay in the log for audit and replay, and leave the state its snapshot holds."""
        for task in self.tasks.values():
            task.input = {}
            if task.kind not in KEPT_AFTER_END:
                task.output = None

    def _check_step(self, kind: str) -> None:
        self._check_move(STATE_OF_STEP[kind])

    def _task_added(self, task: TaskState) -> None:
        self._move(STATE_OF_STEP[task.kind])

    def _check_move(self, state: str) -> None:
        if state != self.state and state not in TRANSITIONS[self.state]:
            raise RunError(f"run {self.run_id} cannot go from {self.state} to {state}")

    def admit(self, credits: int, plan: str, cause: str) -> None:
        self._check_move("admitted")
        self._admitted(credits=credits, plan=plan, cause=cause)

    @event("Admitted")
    def _admitted(self, credits: int, plan: str, cause: str) -> None:
        self._move("admitted")
        self.credits_reserved = credits
        self.plan = plan
        self.bus_events.add(cause)

    def reject(self, reason: str, cause: str) -> None:
        self._check_move("rejected")
        self._rejected(reason=reason, cause=cause)

    @event("Rejected")
    def _rejected(self, reason: str, cause: str) -> None:
        self._move("rejected")
        self.failure = reason
        self.bus_events.add(cause)

    # -- tasks -----------------------------------------------------------------------------

    def throttle_task(self, task_id: str, reasons: list[str], retry_at: datetime, cause: str) -> None:
        """Policy refused the tool for now (a rate limit): ask again at `retry_at`."""
        task = self.task(task_id)
        if task.status != "requested":
            raise RunError(f"task {task_id} is {task.status}, not awaiting policy")
        self._tool_throttled(task_id=task_id, reasons=reasons, retry_at=retry_at, cause=cause)

    @event("ToolThrottled")
    def _tool_throttled(self, task_id: str, reasons: list[str], retry_at: datetime, cause: str) -> None:
        task = self.tasks[task_id]
        task.throttles += 1
        task.errors.append(f"held back: {'; '.join(reasons)}")
        self.bus_events.add(cause)

    def request_tool_again(self, task_id: str, cause: str) -> None:
        """The throttle is over: the tool request goes to policy again."""
        task = self.task(task_id)
        if task.status != "requested" or task.throttles == 0:
            raise RunError(f"task {task_id} is not held back by policy")
        self._tool_requested_again(task_id=task_id, cause=cause)

    @event("ToolRequestedAgain")
    def _tool_requested_again(self, task_id: str, cause: str) -> None:
        self.bus_events.add(cause)

    def queue_approval(self, task_id: str, reason: str, timeout_s: int | None, cause: str) -> None:
        """Policy wants a human to approve the tool while the run already waits for one: the
        request waits its turn (`advance` asks for it once the pending approval is decided)."""
        task = self.task(task_id)
        if task.status != "requested":
            raise RunError(f"task {task_id} is {task.status}, not awaiting policy")
        self._approval_queued(task_id=task_id, reason=reason, timeout_s=timeout_s, cause=cause)

    @event("ApprovalQueued")
    def _approval_queued(self, task_id: str, reason: str, timeout_s: int | None, cause: str) -> None:
        task = self.tasks[task_id]
        task.status = "awaiting_approval"
        task.reason = reason
        task.approval_timeout_s = timeout_s
        self.bus_events.add(cause)

    def _task_done(self, task: TaskState) -> None:
        output = task.output or {}
        if task.kind == "plan":
            self.sub_questions = list(output.get("sub_questions", []))
        elif task.kind in ("search", "fetch", "read", "collect"):
            self._tally_retrieval(task.kind, task.task_id, output)
        # The state keeps what the steps still to come need; what a finished step consumed stays
        # in the log (where replay, audit and the read models find it) but leaves the state, so
        # a run's snapshot is its present, not its history.
        for consumed in CONSUMES.get(task.kind, ()):
            for other in self.tasks.values():
                if other.kind == consumed:
                    other.output = None

    def _tally_retrieval(self, kind: str, task_id: str, output: dict[str, Any]) -> None:
        # The searches' passages leave the state once collected; the report's methods section
        # still needs how many there were and from which documents.
        if kind == "collect":
            self.passages_kept = int(output.get("passages", 0))
            return
        tallies = self.search_tallies
        if kind in ("fetch", "read"):
            # Pages and dataset passages count toward their sub-question's tally (a run that reads
            # only datasets has no search of it, so its first read starts one).
            for finding in output.get("findings", []):
                sub_question = str(finding.get("sub_question", ""))
                key = next((k for k, t in tallies.items() if t["sub_question"] == sub_question), None)
                if key is None:
                    key = f"{task_id}:{len(tallies)}"
                    tallies[key] = {"sub_question": sub_question, "passages": 0, "source_ids": []}
                tally, found = tallies[key], finding.get("passages", [])
                tally["passages"] += len(found)
                tally["source_ids"] = sorted({*tally["source_ids"], *(str(p.get("source_id", "")) for p in found)})
            return
        passages = output.get("passages", [])
        sub_question = str(output.get("sub_question", ""))
        searched = {t.task_id for t in self.tasks_of("search")}
        # A read of the same sub-question that finished first: its count joins this search's.
        early = next((k for k, t in tallies.items() if k not in searched and t["sub_question"] == sub_question), None)
        before: dict[str, Any] = tallies.pop(early) if early is not None else {"passages": 0, "source_ids": []}
        tallies[task_id] = {
            "sub_question": sub_question,
            "passages": len(passages) + before["passages"],
            "source_ids": sorted({*before["source_ids"], *(str(p.get("source_id", "")) for p in passages)}),
        }

    def record_failure(
        self,
        task_id: str,
        attempt: int | None,
        reason: str,
        retryable: bool,
        usage_event_ids: list[str],
        cause: str | None,
        now: datetime,
        fault: str = "platform",
    ) -> None:
        """An attempt failed (or timed out): retry after a backoff while attempts remain."""
        task = self._open_task(task_id)
        if attempt is not None and attempt != task.attempt:
            raise RunError(f"attempt {attempt} of task {task_id} is stale (now at {task.attempt})")
        if retryable and task.attempt < task.max_attempts:
            retry_at = now + POLICIES[task.kind].backoff(task.attempt)
            self._attempt_failed(
                task_id=task_id,
                attempt=task.attempt,
                reason=reason,
                usage_event_ids=usage_event_ids,
                retry_at=retry_at,
                cause=cause,
            )
        else:
            self._fail_task(task_id, reason, usage_event_ids, cause, fault)

    @event("AttemptFailed")
    def _attempt_failed(
        self, task_id: str, attempt: int, reason: str, usage_event_ids: list[str], retry_at: datetime, cause: str | None
    ) -> None:
        task = self.tasks[task_id]
        task.status = "retrying"
        task.errors.append(f"attempt {attempt}: {reason}")
        task.add_usage(usage_event_ids)
        self._applied(cause)

    def retry(self, task_id: str, now: datetime, cause: str | None = None) -> None:
        """The backoff is over: dispatch the next attempt."""
        task = self.task(task_id)
        if task.status != "retrying":
            raise RunError(f"task {task_id} is {task.status}, not waiting to retry")
        self._dispatch(task, now, cause)

    # -- approvals -------------------------------------------------------------------------

    def request_approval(
        self,
        approval_id: str,
        subject: str,
        reason: str,
        now: datetime,
        cause: str | None = None,
        timeout_s: int | None = None,
    ) -> None:
        """Wait for a human: `timeout_s` when the rule asking says how long, else the run's own."""
        if self.pending_approval() is not None:
            raise RunError(f"run {self.run_id} already waits for an approval")
        self._check_move("waiting_approval")
        deadline = now + timedelta(seconds=timeout_s or self.approval_timeout_s)
        self._approval_requested(
            approval_id=approval_id, subject=subject, reason=reason, deadline=deadline, cause=cause
        )

    @event("ApprovalRequested")
    def _approval_requested(
        self, approval_id: str, subject: str, reason: str, deadline: datetime, cause: str | None = None
    ) -> None:
        self.approvals[approval_id] = Approval(approval_id, subject, reason, deadline, resume_state=self.state)
        queued = self.tasks.get(subject.removeprefix("task:"))
        if queued is not None and queued.status == "awaiting_approval":
            queued.status, queued.reason = "requested", ""  # its approval's turn: policy's answer stands
        self._move("waiting_approval")
        if cause:
            self.bus_events.add(cause)

    def approve(self, approval_id: str | None, by: str | None, comment: str, cause: str) -> Approval:
        approval = self._pending(approval_id, review=False)
        self._check_move(approval.resume_state)
        self._approved(approval_id=approval.approval_id, by=by, comment=comment, cause=cause)
        return approval

    @event("Approved")
    def _approved(self, approval_id: str, by: str | None, comment: str, cause: str) -> None:
        approval = self.approvals[approval_id]
        approval.status, approval.decided_by, approval.comment = "approved", by, comment
        self._move(approval.resume_state)
        self.bus_events.add(cause)

    def refuse(self, approval_id: str | None, by: str | None, comment: str, cause: str) -> None:
        approval = self._pending(approval_id, review=False)
        self._check_move("rejected")
        self._refused(approval_id=approval.approval_id, by=by, comment=comment, cause=cause)

    @event("Refused")
    def _refused(self, approval_id: str, by: str | None, comment: str, cause: str) -> None:
        approval = self.approvals[approval_id]
        approval.status, approval.decided_by, approval.comment = "refused", by, comment
        self.failure = f"approval refused by {by or 'an approver'}" + (f": {comment}" if comment else "")
        self._move("rejected")
        self.bus_events.add(cause)

    def optional_task_of(self, approval: Approval) -> TaskState | None:
        """The task an approval is about, when the run can go on without it (see tasks.OPTIONAL)."""
        task = self.tasks.get(approval.subject.removeprefix("task:")) if approval.subject.startswith("task:") else None
        return task if task is not None and task.kind in OPTIONAL else None

    def drop_task(self, approval_id: str | None, outcome: str, by: str | None, comment: str, cause: str | None) -> None:
        """A tool use the run can do without was refused by a human (or not approved in time):
        that task is denied and the run goes on without it."""
        approval = self._pending(approval_id)
        if self.optional_task_of(approval) is None:
            raise RunError(f"approval {approval.approval_id} is not about a step the run can do without")
        self._check_move(approval.resume_state)
        self._task_dropped(approval_id=approval.approval_id, outcome=outcome, by=by, comment=comment, cause=cause)

    @event("TaskDropped")
    def _task_dropped(self, approval_id: str, outcome: str, by: str | None, comment: str, cause: str | None) -> None:
        approval = self.approvals[approval_id]
        approval.status, approval.decided_by, approval.comment = outcome, by, comment
        task = self.tasks[approval.subject.removeprefix("task:")]
        task.status = "denied"
        task.reason = (
            f"approval refused by {by or 'an approver'}" + (f": {comment}" if comment else "")
            if outcome == "refused"
            else f"no approval before {approval.deadline.isoformat()}"
        )
        self._move(approval.resume_state)
        if cause:
            self.bus_events.add(cause)

    def expire(self, approval_id: str, now: datetime, cause: str | None = None) -> None:
        approval = self._pending(approval_id)
        if now < approval.deadline:
            raise RunError(f"approval {approval_id} is not due before {approval.deadline.isoformat()}")
        self._check_move("expired")
        self._expired(approval_id=approval_id, cause=cause)

    @event("Expired")
    def _expired(self, approval_id: str, cause: str | None = None) -> None:
        if cause:
            self.bus_events.add(cause)
        approval = self.approvals[approval_id]
        approval.status = "expired"
        wanted = "review of the plan" if approval.subject == PLAN_REVIEW else "approval"
        self.failure = f"no {wanted} before {approval.deadline.isoformat()}"
        self._move("expired")

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

    def request_plan_review(self, review_id: str, now: datetime) -> None:
        """The plan is made: wait for a human to continue with it (edited or not) or cancel."""
        if self.pending_approval() is not None:
            raise RunError(f"run {self.run_id} already waits for an approval")
        self._check_move("awaiting_plan_review")
        deadline = now + timedelta(seconds=self.approval_timeout_s)
        self._plan_review_requested(review_id=review_id, deadline=deadline)

    @event("PlanReviewRequested")
    def _plan_review_requested(self, review_id: str, deadline: datetime) -> None:
        reason = "the run asks for a review of its plan before it searches"
        self.approvals[review_id] = Approval(review_id, PLAN_REVIEW, reason, deadline, resume_state="planning")
        self._move("awaiting_plan_review")

    def revise_plan(
        self, review_id: str | None, sub_questions: list[str], by: str | None, comment: str, cause: str
    ) -> None:
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
        self._plan_revised(review_id=review.approval_id, sub_questions=cleaned, by=by, comment=comment, cause=cause)

    @event("PlanRevised")
    def _plan_revised(self, review_id: str, sub_questions: list[str], by: str | None, comment: str, cause: str) -> None:
        review = self.approvals[review_id]
        review.status, review.decided_by, review.comment = "approved", by, comment
        self.sub_questions = list(sub_questions)
        self._move(review.resume_state)
        self.bus_events.add(cause)

    def cancel_plan(self, review_id: str | None, by: str | None, comment: str, cause: str) -> None:
        """The reviewer stops the run before it searches: it ends cancelled (unused credits refunded)."""
        review = self._pending(review_id, review=True)
        self._check_move("cancelled")
        self._plan_cancelled(review_id=review.approval_id, by=by, comment=comment, cause=cause)

    @event("PlanCancelled")
    def _plan_cancelled(self, review_id: str, by: str | None, comment: str, cause: str) -> None:
        review = self.approvals[review_id]
        review.status, review.decided_by, review.comment = "refused", by, comment
        reason = f"plan review: cancelled by {by or 'a reviewer'}" + (f": {comment}" if comment else "")
        self.cancel_reason = reason[:500]
        self.failure = reason
        self._move("cancelled")
        self.bus_events.add(cause)

    # -- ending ----------------------------------------------------------------------------

    def request_cancel(self, reason: str, cause: str) -> None:
        if self.is_terminal:
            raise RunError(f"run {self.run_id} is already {self.state}")
        self._cancel_requested(reason=reason, cause=cause)

    @event("CancelRequested")
    def _cancel_requested(self, reason: str, cause: str) -> None:
        self.cancel_reason = reason
        self.bus_events.add(cause)

    def cancel(self) -> None:
        self._check_move("cancelled")
        self._cancelled(reason=self.cancel_reason or "cancelled")

    @event("Cancelled")
    def _cancelled(self, reason: str) -> None:
        self._move("cancelled")
        self.failure = reason

    def complete(self) -> None:
        self._check_move("completed")
        self._completed()

    @event("Completed")
    def _completed(self) -> None:
        self._move("completed")

    def fail(self, reason: str, step: str | None, fault: str = "platform") -> None:
        """End the run failed; `fault` says who pays (contracts.task.Fault)."""
        self._check_move("failed")
        self._failed(reason=reason, step=step, fault=fault)

    @event("Failed")
    def _failed(self, reason: str, step: str | None, fault: str = "platform") -> None:
        self._move("failed")
        self.failure = reason
        self.failure_fault = fault


# Where Run was defined before the orchestrator was laid out by aggregate.
RUN_TOPIC_BEFORE_MOVE = "services.orchestrator.domain:Run"
answer_to_old_topics(RUN_TOPIC_BEFORE_MOVE.partition(":")[0], Run)
