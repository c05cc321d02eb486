"""Stored Run events -> contract events and durable timers (the only place the two meet)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from contracts.guardrail import GuardrailTripped, GuardrailTrippedPayload
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
from contracts.timer import TimerFired, TimerFiredPayload, TimerPurpose
from contracts.work import ReportOutput, SynthesiseOutput
from quarry_runtime.outbox import Outgoing
from services.orchestrator.emitter import Emitter
from services.orchestrator.runs.domain import Run
from services.orchestrator.runs.workflow import task_input

RunAt = Callable[[Any, int], Run]


def timer_id(run_id: str, purpose: str, key: str) -> str:
    return derived_id(run_id, f"timer:{purpose}:{key}")


class _RunEmitter(Emitter):
    """A run's contract events, and the durable timers that wake it."""

    def timer(
        self,
        purpose: TimerPurpose,
        at: datetime,
        *,
        task_id: str | None = None,
        attempt: int | None = None,
        approval_id: str | None = None,
    ) -> None:
        key = f"{task_id or approval_id}:{attempt or 0}"
        tid = timer_id(self.run_id or "", purpose, key)
        payload = TimerFiredPayload(
            timer_id=tid, purpose=purpose, task_id=task_id, attempt=attempt, approval_id=approval_id
        )
        self.emit(TimerFired, payload, at=at, event_id=tid)

    def step(self, step: str, status: str, detail: str = "") -> None:
        self.emit(RunStepChanged, RunStepChangedPayload(step=step, status=status, detail=detail[:500]))


Sign = Callable[[Run, str], str | None]


def translate(domain_event: Any, run_at: RunAt, sign: Sign = lambda run, tool: None) -> Sequence[Outgoing]:
    """What one stored Run event publishes, in order. `sign` makes the delegation token a tool
    request carries (for the run's user, narrowed to that one tool)."""
    name = type(domain_event).__name__
    run = run_at(domain_event.originator_id, domain_event.originator_version)
    e = _RunEmitter.of_saga(domain_event, run, run.run_id)
    usage = run.usage_event_ids()
    if name == "Admitted":
        e.emit(RunAdmitted, RunAdmittedPayload(credits_reserved=run.credits_reserved))
    elif name == "GuardrailTripped":
        e.emit(
            GuardrailTripped,
            GuardrailTrippedPayload(
                guardrail=domain_event.guardrail,
                where=domain_event.where,
                action=domain_event.action,
                counts=domain_event.counts,
            ),
        )
    elif name == "Rejected":
        e.emit(RunRejected, RunRejectedPayload(reason=run.failure or "rejected", usage_event_ids=usage))
    elif name in ("TaskRequested", "ToolRequestedAgain"):
        task = run.tasks[domain_event.task_id]
        if name == "TaskRequested":
            e.step(task.kind, "started", _detail(task.input))
        e.request_tool(task, run.plan, sign(run, task.tool), request_no=task.throttles + 1)
    elif name == "ToolThrottled":
        task = run.tasks[domain_event.task_id]
        reasons = "; ".join(domain_event.reasons)
        e.step(
            task.kind, "retrying", f"held back by policy ({reasons}); asking again at {domain_event.retry_at:%H:%M:%S}"
        )
        e.timer("tool_retry", domain_event.retry_at, task_id=task.task_id, attempt=task.throttles)
    elif name == "TaskDispatched":
        task = run.tasks[domain_event.task_id]
        e.dispatch(task, task_input(run, task))
        e.timer("task_timeout", domain_event.timeout_at, task_id=task.task_id, attempt=task.attempt)
    elif name == "TaskDenied":
        task = run.tasks[domain_event.task_id]
        e.step(task.kind, "denied", task.reason)
    elif name == "TaskSucceeded":
        task = run.tasks[domain_event.task_id]
        e.step(task.kind, "finished", _summary(task.kind, task.output))
        if task.kind == "plan":
            e.emit(RunPlanned, RunPlannedPayload(sub_questions=run.sub_questions))
    elif name == "AttemptFailed":
        task = run.tasks[domain_event.task_id]
        e.step(task.kind, "retrying", f"attempt {domain_event.attempt} failed: {domain_event.reason}")
        e.timer("task_retry", domain_event.retry_at, task_id=task.task_id, attempt=domain_event.attempt)
    elif name == "TaskFailed":
        task = run.tasks[domain_event.task_id]
        e.step(task.kind, "failed", task.reason)
    elif name == "ApprovalRequested":
        approval = run.approvals[domain_event.approval_id]
        e.emit(
            RunWaitingApproval,
            RunWaitingApprovalPayload(
                approval_id=approval.approval_id,
                subject=approval.subject,
                reason=approval.reason,
                deadline=approval.deadline,
            ),
        )
        e.timer("approval_deadline", approval.deadline, approval_id=approval.approval_id)
    elif name == "PlanReviewRequested":
        review = run.approvals[domain_event.review_id]
        e.emit(
            RunAwaitingPlanReview,
            RunAwaitingPlanReviewPayload(
                review_id=review.approval_id,
                sub_questions=run.sub_questions,
                max_sub_questions=run.max_sub_questions(),
                deadline=review.deadline,
            ),
        )
        e.timer("approval_deadline", review.deadline, approval_id=review.approval_id)
    elif name == "PlanRevised":
        review = run.approvals[domain_event.review_id]
        planned = next((t.output for t in run.tasks_of("plan") if t.output), None) or {}
        e.emit(
            RunPlanRevised,
            RunPlanRevisedPayload(
                review_id=review.approval_id,
                sub_questions=run.sub_questions,
                revised_by=review.decided_by,
                comment=review.comment,
                edited=run.sub_questions != list(planned.get("sub_questions", [])),
            ),
        )
    elif name == "PlanCancelled":
        e.emit(RunCancelled, RunCancelledPayload(reason=run.failure or "cancelled", usage_event_ids=usage))
    elif name == "Approved":
        approval = run.approvals[domain_event.approval_id]
        e.emit(
            RunResumed,
            RunResumedPayload(
                approval_id=approval.approval_id, approved_by=approval.decided_by, comment=approval.comment
            ),
        )
    elif name == "TaskDropped":
        approval = run.approvals[domain_event.approval_id]
        task = run.tasks[approval.subject.removeprefix("task:")]
        e.step(task.kind, "denied", task.reason)
        e.emit(
            RunResumed,
            RunResumedPayload(
                approval_id=approval.approval_id,
                approved_by=approval.decided_by,
                comment=approval.comment,
                outcome=domain_event.outcome,
            ),
        )
    elif name == "Refused":
        e.emit(RunRejected, RunRejectedPayload(reason=run.failure or "approval refused", usage_event_ids=usage))
    elif name == "Expired":
        e.emit(RunExpired, RunExpiredPayload(reason=run.failure or "approval expired", usage_event_ids=usage))
    elif name == "Cancelled":
        e.emit(RunCancelled, RunCancelledPayload(reason=run.failure or "cancelled", usage_event_ids=usage))
    elif name == "Completed":
        report = next((t.output for t in run.tasks_of("report") if t.output), None)
        parsed = ReportOutput.model_validate(report) if report else None
        synthesis = next((t.output for t in run.tasks_of("synthesise") if t.output), None)
        sources = len(SynthesiseOutput.model_validate(synthesis).draft.sources) if synthesis else 0
        e.emit(
            RunCompleted,
            RunCompletedPayload(
                usage_event_ids=usage,
                sources=sources,
                report_markdown=parsed.markdown.path if parsed else None,
                report_pdf=parsed.pdf.path if parsed else None,
            ),
        )
    elif name == "Failed":
        fault = "tenant" if run.failure_fault == "tenant" else "platform"
        e.emit(
            RunFailed,
            RunFailedPayload(
                reason=run.failure or "failed", step=domain_event.step, usage_event_ids=usage, fault=fault
            ),
        )
    return e.out


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
