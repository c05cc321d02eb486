"""Stored Run events -> contract events on the bus (the only place the two meet)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from contracts import subjects
from contracts.envelope import Actor, Event, TraceContext
from contracts.ids import stable_id
from contracts.run import (
    RunAdmitted,
    RunAdmittedPayload,
    RunCompleted,
    RunCompletedPayload,
    RunFailed,
    RunFailedPayload,
    RunPlanned,
    RunPlannedPayload,
    RunRejected,
    RunRejectedPayload,
    RunStepChanged,
    RunStepChangedPayload,
)
from contracts.task import TaskDispatched, TaskDispatchedPayload
from contracts.tool import ToolRequested, ToolRequestedPayload
from contracts.work import ReportOutput, SynthesiseOutput
from services.orchestrator.domain import Run

AGENT = "quarry-orchestrator"

RunAt = Callable[[Any, int], Run]


def translate(domain_event: Any, run_at: RunAt) -> Sequence[tuple[Event, str]]:
    """The contract events one stored Run event stands for, with ids fixed by its position."""
    name = type(domain_event).__name__
    run = run_at(domain_event.originator_id, domain_event.originator_version)
    out: list[tuple[Event, str]] = []
    counter = iter(range(100))

    def emit(cls: type[Event], payload: Any, subject: str | None = None, cause: str | None = None) -> None:
        key = f"{domain_event.originator_id}:{domain_event.originator_version}:{next(counter)}"
        ev = cls.create(
            payload,
            tenant_id=run.tenant_id,
            run_id=run.run_id,
            actor=Actor(user_id=run.user_id, agent=AGENT, roles=run.roles),
            causation_id=cause,
            event_id=stable_id(key, int(domain_event.timestamp.timestamp() * 1000)),
            trace=TraceContext(traceparent=run.traceparent),
        )
        out.append((ev, subject or cls.SUBJECT))

    cause = getattr(domain_event, "cause", None)
    if name == "Admitted":
        emit(RunAdmitted, RunAdmittedPayload(credits_reserved=run.credits_reserved), cause=cause)
    elif name == "Rejected":
        emit(RunRejected, RunRejectedPayload(reason=run.failure or "rejected"), cause=cause)
    elif name == "TaskRequested":
        task = run.tasks[domain_event.task_id]
        emit(RunStepChanged, RunStepChangedPayload(step=task.kind, status="started", detail=_detail(task.input)))
        emit(
            ToolRequested,
            ToolRequestedPayload(
                request_id=f"{task.task_id}:1",
                tool=task.tool,
                task_id=task.task_id,
                step=task.kind,
                plan=run.plan,
                roles=run.roles,
                arguments={k: v for k, v in task.input.items() if isinstance(v, str | int | float | bool)},
            ),
        )
    elif name == "TaskAuthorised":
        task = run.tasks[domain_event.task_id]
        payload = TaskDispatchedPayload(task_id=task.task_id, kind=task.kind, role=task.role, input=task.input)
        emit(TaskDispatched, payload, subject=subjects.task_lane(task.role), cause=cause)
    elif name == "TaskDenied":
        task = run.tasks[domain_event.task_id]
        emit(RunStepChanged, RunStepChangedPayload(step=task.kind, status="denied", detail=task.reason), cause=cause)
    elif name == "TaskSucceeded":
        task = run.tasks[domain_event.task_id]
        emit(
            RunStepChanged,
            RunStepChangedPayload(step=task.kind, status="finished", detail=_summary(task.kind, task.output)),
            cause=cause,
        )
        if task.kind == "plan":
            emit(RunPlanned, RunPlannedPayload(sub_questions=run.sub_questions), cause=cause)
    elif name == "TaskFailed":
        task = run.tasks[domain_event.task_id]
        emit(RunStepChanged, RunStepChangedPayload(step=task.kind, status="failed", detail=task.reason), cause=cause)
    elif name == "Completed":
        report = next((t.output for t in run.tasks_of("report") if t.output), None)
        parsed = ReportOutput.model_validate(report) if report else None
        synthesis = next((t.output for t in run.tasks_of("synthesise") if t.output), None)
        sources = len(SynthesiseOutput.model_validate(synthesis).draft.sources) if synthesis else 0
        emit(
            RunCompleted,
            RunCompletedPayload(
                usage_event_ids=run.usage_event_ids(),
                sources=sources,
                report_markdown=parsed.markdown.path if parsed else None,
                report_pdf=parsed.pdf.path if parsed else None,
            ),
        )
    elif name == "Failed":
        emit(
            RunFailed,
            RunFailedPayload(
                reason=run.failure or "failed", step=domain_event.step, usage_event_ids=run.usage_event_ids()
            ),
        )
    return out


def _detail(task_input: dict[str, Any]) -> str:
    return str(task_input.get("sub_question") or task_input.get("question") or "")[:300]


def _summary(kind: str, output: dict[str, Any] | None) -> str:
    output = output or {}
    if kind == "plan":
        return f"{len(output.get('sub_questions', []))} sub-questions"
    if kind == "search":
        return f"{len(output.get('passages', []))} passages for: {output.get('sub_question', '')}"[:300]
    if kind == "synthesise":
        draft = output.get("draft", {})
        claims = len(draft.get("summary", [])) + sum(len(s.get("claims", [])) for s in draft.get("sections", []))
        return f"{claims} cited claims from {len(draft.get('sources', []))} sources"
    if kind == "report":
        return str(output.get("title", "report"))
    return ""
