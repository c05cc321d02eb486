"""Stored Run events -> contract events and durable timers (the only place the two meet)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from contracts.envelope import Event
from contracts.ids import derived_id
from contracts.run import (
    RunAdmitted,
    RunAdmittedPayload,
    RunAwaitingPlanReview,
    RunAwaitingPlanReviewPayload,
    RunCancelled,
    RunCancelledPayload,
    RunCompleted,
    RunCompletedPayload,
    RunEndedPayload,
    RunExpired,
    RunExpiredPayload,
    RunFailed,
    RunFailedPayload,
    RunPlanned,
    RunPlannedPayload,
    RunPlanRevised,
    RunPlanRevisedPayload,
    RunRejected,
    RunRejectedPayload,
    RunResumed,
    RunResumedPayload,
    RunStepChanged,
    RunStepChangedPayload,
    RunWaitingApproval,
    RunWaitingApprovalPayload,
)
from contracts.timer import TimerFiredPayload, TimerPurpose
from contracts.work import ReportOutput, SynthesiseOutput
from quarry_runtime.outbox import Outgoing
from services.orchestrator.emitter import Emitter, copied
from services.orchestrator.runs.domain import Approval, Run
from services.orchestrator.runs.workflow import task_input
from services.orchestrator.tasks import agent_for, shadow_of

RunAt = Callable[[Any, int], Run]

# How a run that ends short of its report says so, and the reason when the run recorded none.
ENDED_SHORT: dict[str, tuple[type[Event], type[RunEndedPayload], str]] = {
    "Rejected": (RunRejected, RunRejectedPayload, "rejected"),
    "Refused": (RunRejected, RunRejectedPayload, "approval refused"),
    "Expired": (RunExpired, RunExpiredPayload, "approval expired"),
    "Cancelled": (RunCancelled, RunCancelledPayload, "cancelled"),
    "PlanCancelled": (RunCancelled, RunCancelledPayload, "cancelled"),
}

# The stored events about one task: each names it by `task_id`.
TASK_EVENTS = frozenset(
    {
        "TaskRequested",
        "ToolRequestedAgain",
        "ToolThrottled",
        "TaskDispatched",
        "TaskDenied",
        "TaskSucceeded",
        "AttemptFailed",
        "TaskFailed",
    }
)


def timer_id(run_id: str, purpose: str, key: str) -> str:
    return derived_id(run_id, f"timer:{purpose}:{key}")


class _RunEmitter(Emitter):
    """A run's contract events, and the durable timers that wake it."""

    def task_timer(self, purpose: TimerPurpose, at: datetime, task_id: str, attempt: int) -> None:
        """Wake the run at `at` about an attempt of the task (or, for a tool retry, its n-th hold)."""
        tid = timer_id(self.run_id or "", purpose, f"{task_id}:{attempt}")
        self.timer(at, TimerFiredPayload(timer_id=tid, purpose=purpose, task_id=task_id, attempt=attempt))

    def approval_timer(self, approval: Approval) -> None:
        """Wake the run when nobody has decided the approval (or plan review) by its deadline."""
        tid = timer_id(self.run_id or "", "approval_deadline", f"{approval.approval_id}:0")
        wake = TimerFiredPayload(timer_id=tid, purpose="approval_deadline", approval_id=approval.approval_id)
        self.timer(approval.deadline, wake)

    def step(self, step: str, status: str, detail: str = "") -> None:
        self.emit(RunStepChanged, RunStepChangedPayload(step=step, status=status, detail=detail[:500]))

    def resumed(self, approval: Approval, outcome: str = "approved") -> None:
        """The run goes on after a human's answer (or the clock's, for a step it can do without)."""
        resumed = copied(RunResumedPayload, approval, approved_by=approval.decided_by, outcome=outcome)
        self.emit(RunResumed, resumed)


Sign = Callable[[Run, str], str | None]


def translate(domain_event: Any, run_at: RunAt, sign: Sign = lambda run, tool: None) -> Sequence[Outgoing]:
    """What one stored Run event publishes, in order. `sign` makes the delegation token a tool
    request carries (for the run's user, narrowed to that one tool)."""
    name = type(domain_event).__name__
    run = run_at(domain_event.originator_id, domain_event.originator_version)
    e = _RunEmitter.of_saga(domain_event, run, run.run_id)
    if name in ENDED_SHORT:
        event, payload, reason = ENDED_SHORT[name]
        e.emit(event, payload(reason=run.failure or reason, usage_event_ids=run.usage_event_ids()))
    elif name == "Admitted":
        admitted = RunAdmittedPayload.model_validate(
            {"credits_reserved": run.credits_reserved, "agent_versions": run.agent_versions, "rollouts": run.rollouts}
        )
        e.emit(RunAdmitted, admitted)
    elif name == "GuardrailTripped":
        e.guardrail_tripped(domain_event)
    elif name in TASK_EVENTS:
        _task_event(e, name, domain_event, run, sign)
    elif name == "ApprovalRequested":
        approval = run.approvals[domain_event.approval_id]
        e.emit(RunWaitingApproval, copied(RunWaitingApprovalPayload, approval))
        e.approval_timer(approval)
    elif name == "PlanReviewRequested":
        review = run.approvals[domain_event.review_id]
        waiting = RunAwaitingPlanReviewPayload(
            review_id=review.approval_id,
            sub_questions=run.sub_questions,
            max_sub_questions=run.max_sub_questions(),
            deadline=review.deadline,
        )
        e.emit(RunAwaitingPlanReview, waiting)
        e.approval_timer(review)
    elif name == "PlanRevised":
        review = run.approvals[domain_event.review_id]
        planned = next((t.output for t in run.tasks_of("plan") if t.output), None) or {}
        revised = RunPlanRevisedPayload(
            review_id=review.approval_id,
            sub_questions=run.sub_questions,
            revised_by=review.decided_by,
            comment=review.comment,
            edited=run.sub_questions != list(planned.get("sub_questions", [])),
        )
        e.emit(RunPlanRevised, revised)
    elif name == "Approved":
        e.resumed(run.approvals[domain_event.approval_id])
    elif name == "TaskDropped":
        approval = run.approvals[domain_event.approval_id]
        task = run.tasks[approval.subject.removeprefix("task:")]
        e.step(task.kind, "denied", task.reason)
        e.resumed(approval, outcome=domain_event.outcome)
    elif name == "Completed":
        e.emit(RunCompleted, _completed(run))
    elif name == "Failed":
        fault = "tenant" if run.failure_fault == "tenant" else "platform"
        usage = run.usage_event_ids()
        failed = RunFailedPayload(
            reason=run.failure or "failed", step=domain_event.step, usage_event_ids=usage, fault=fault
        )
        e.emit(RunFailed, failed)
    return e.out


def _task_event(e: _RunEmitter, name: str, domain_event: Any, run: Run, sign: Sign) -> None:
    """What a stored event about one of the run's tasks publishes: its step's progress, its tool
    request or dispatch, and the timers that retry it."""
    task = run.tasks[domain_event.task_id]
    if name == "TaskRequested":
        e.step(task.kind, "started", _detail(task.input))
    if name in ("TaskRequested", "ToolRequestedAgain"):
        e.request_tool(task, run.plan, sign(run, task.tool), request_no=task.throttles + 1)
    elif name == "ToolThrottled":
        reasons = "; ".join(domain_event.reasons)
        retry_at = domain_event.retry_at
        e.step(task.kind, "retrying", f"held back by policy ({reasons}); asking again at {retry_at:%H:%M:%S}")
        e.task_timer("tool_retry", retry_at, task.task_id, task.throttles)
    elif name == "TaskDispatched":
        e.dispatch(task, task_input(run, task), agent_for(task.kind, run.agent_versions))
        shadow = shadow_of(task.kind, run.rollouts) if task.attempt == 1 else None
        if shadow is not None:  # a sampled run of a shadowing rollout: once per task, not per retry
            e.dispatch_shadow(task, task_input(run, task), shadow[0], shadow[1])
        e.task_timer("task_timeout", domain_event.timeout_at, task.task_id, task.attempt)
    elif name == "TaskSucceeded":
        e.step(task.kind, "finished", _summary(task.kind, task.output))
        if task.kind == "plan":
            e.emit(RunPlanned, RunPlannedPayload(sub_questions=run.sub_questions))
    elif name == "AttemptFailed":
        e.step(task.kind, "retrying", f"attempt {domain_event.attempt} failed: {domain_event.reason}")
        e.task_timer("task_retry", domain_event.retry_at, task.task_id, domain_event.attempt)
    else:  # denied or failed for good
        e.step(task.kind, "denied" if name == "TaskDenied" else "failed", task.reason)


def _completed(run: Run) -> RunCompletedPayload:
    """A completed run's report (its paths) and how many sources it cites."""
    report = next((t.output for t in run.tasks_of("report") if t.output), None)
    parsed = ReportOutput.model_validate(report) if report else None
    synthesis = next((t.output for t in run.tasks_of("synthesise") if t.output), None)
    sources = len(SynthesiseOutput.model_validate(synthesis).draft.sources) if synthesis else 0
    return RunCompletedPayload(
        usage_event_ids=run.usage_event_ids(),
        sources=sources,
        report_markdown=parsed.markdown.path if parsed else None,
        report_pdf=parsed.pdf.path if parsed else None,
    )


def _detail(task_input: dict[str, Any]) -> str:
    if "urls" in task_input:
        return f"{len(task_input['urls'])} pages on {urlsplit(str(task_input.get('url', ''))).hostname}"[:300]
    return str(task_input.get("sub_question") or task_input.get("question") or "")[:300]


def _summary(kind: str, output: dict[str, Any] | None) -> str:
    output = output or {}
    if kind == "plan":
        return f"{len(output.get('sub_questions', []))} sub-questions"
    if kind == "search":
        return f"{len(output.get('passages', []))} passages for: {output.get('sub_question', '')}"[:300]
    if kind == "fetch":
        return f"{sum(len(f.get('passages', [])) for f in output.get('findings', []))} passages from the pages fetched"
    if kind == "collect":
        return f"{output.get('passages', 0)} passages kept, {output.get('duplicates_dropped', 0)} duplicates dropped"
    if kind == "synthesise":
        draft = output.get("draft", {})
        claims = len(draft.get("summary", [])) + sum(len(s.get("claims", [])) for s in draft.get("sections", []))
        return f"{claims} cited claims from {len(draft.get('sources', []))} sources"
    if kind == "verify":
        return f"{output.get('supported', 0)}/{output.get('checked', 0)} claims supported by their sources"
    if kind == "index":
        return f"{output.get('chunks', 0)} chunks added to the tenant's memory"
    if kind == "report":
        return str(output.get("title", "report"))
    return ""
