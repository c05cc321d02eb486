"""The orchestrator on in-memory storage at a clock of the test's, the events that drive a run,
and the outputs its workers would give."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from contracts.credits import CreditsReserved, CreditsReservedPayload
from contracts.envelope import Actor
from contracts.ids import new_id
from contracts.report import Artifact
from contracts.run import RunFailed, RunRequested, RunRequestedPayload
from contracts.task import TaskFailed, TaskFailedPayload, TaskSucceeded, TaskSucceededPayload
from contracts.timer import TimerFired, TimerFiredPayload
from contracts.tool import ToolDecided, ToolDecidedPayload
from contracts.work import (
    Claim,
    CollectOutput,
    Draft,
    FetchOutput,
    IndexOutput,
    Passage,
    PlanOutput,
    ReadOutput,
    ReportOutput,
    SearchOutput,
    SourceRef,
    SynthesiseOutput,
    VerifyOutput,
    WebCandidate,
)
from quarry_runtime.outbox import Outgoing, aggregate_at
from services.orchestrator.application import Orchestrator
from services.orchestrator.monitors.translate import translate_monitor
from services.orchestrator.runs.domain import Run
from services.orchestrator.runs.translate import translate
from services.orchestrator.runs.workflow import task_input
from services.orchestrator.saga import TaskSaga

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
# A translator of stored events (services.orchestrator.*.translate), given an aggregate-at lookup.
Translator = Callable[[Any, Callable[[Any, int], Any]], Sequence[Outgoing]]
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def orchestrator_at(clock: Clock) -> Orchestrator:
    """The orchestrator on in-memory storage, reading the time from `clock`."""
    orchestrator = Orchestrator(env=POPO)
    orchestrator.clock = clock
    return orchestrator


def requested(approval: bool = False, timeout_s: int = 3600, sources: list[str] | None = None) -> RunRequested:
    return RunRequested.create(
        RunRequestedPayload(
            question="what is a context manager",
            depth=1,
            max_sources=5,
            approval_required=approval,
            approval_timeout_s=timeout_s,
            sources=sources,
        ),
        tenant_id="tenant-a",
        run_id=new_id(),
        actor=Actor(user_id="u1", roles=["owner"]),
    )


def reserved(req: RunRequested, plan: str = "free") -> CreditsReserved:
    return CreditsReserved.caused_by(req, CreditsReservedPayload(amount=40, balance=460, plan=plan))


def admitted(app: Orchestrator, payload: RunRequestedPayload, role: str = "owner") -> str:
    """A run asked for with `payload` by user u1 of tenant-a in `role`, started and admitted; its id."""
    req = RunRequested.create(payload, tenant_id="tenant-a", run_id=new_id(), actor=Actor(user_id="u1", roles=[role]))
    app.start_run(req)
    app.admit_run(reserved(req))
    return req.run_id or ""


def tool_decision(task_id: str, tool: str, verdict: str, approval_timeout_s: int | None = None) -> ToolDecidedPayload:
    """Policy's answer on the first request of task `task_id`, for the tool it asked about."""
    return ToolDecidedPayload(
        approval_timeout_s=approval_timeout_s,
        request_id=f"{task_id}:1",
        task_id=task_id,
        tool=tool,
        decision=verdict,
        reasons=["because"],
        policy_ids=["p1"],
        policy_version="v1",
        evaluation_ms=0.1,
    )


def decide(run: Run, task_id: str, decision: str = "allow", approval_timeout_s: int | None = None) -> ToolDecided:
    payload = tool_decision(task_id, run.tasks[task_id].tool, decision, approval_timeout_s)
    return ToolDecided.create(payload, tenant_id=run.tenant_id, run_id=run.run_id)


def task_succeeded(saga: TaskSaga, saga_id: str, task_id: str, output: dict[str, Any]) -> TaskSucceeded:
    """The worker's success on the task's current attempt; `saga_id` is the run's or question's id,
    which the bus event carries as its run id."""
    task = saga.tasks[task_id]
    payload = TaskSucceededPayload(
        task_id=task_id, kind=task.kind, attempt=task.attempt, output=output, usage_event_ids=[f"u-{task_id}"]
    )
    return TaskSucceeded.create(payload, tenant_id=saga.tenant_id, run_id=saga_id)


def task_failed(saga: TaskSaga, saga_id: str, task_id: str, retryable: bool = True) -> TaskFailed:
    """The worker's failure of the task's current attempt (see `task_succeeded`)."""
    task = saga.tasks[task_id]
    payload = TaskFailedPayload(
        task_id=task_id, kind=task.kind, attempt=task.attempt, reason="boom", retryable=retryable
    )
    return TaskFailed.create(payload, tenant_id=saga.tenant_id, run_id=saga_id)


def succeed(run: Run, task_id: str, output: dict[str, Any]) -> TaskSucceeded:
    return task_succeeded(run, run.run_id, task_id, output)


def fail(run: Run, task_id: str, retryable: bool = True) -> TaskFailed:
    return task_failed(run, run.run_id, task_id, retryable)


def timer(run: Run, purpose: str, task_id: str | None = None, approval_id: str | None = None) -> TimerFired:
    attempt = run.tasks[task_id].attempt if task_id else None
    payload = TimerFiredPayload(
        timer_id=new_id(), purpose=purpose, task_id=task_id, attempt=attempt, approval_id=approval_id
    )
    return TimerFired.create(payload, tenant_id=run.tenant_id, run_id=run.run_id)


def with_status(app: Orchestrator, run_id: str, status: str) -> list[str]:
    return [t.task_id for t in app.get_run(run_id).tasks.values() if t.status == status]


PASSAGE = Passage(source_id="doc1", title="Doc", location="§1", text="A context manager sets up and tears down.")
WEB_PAGE = "https://docs.python.org/3/library/contextlib.html"
UPLOAD = Passage(source_id="upload1", title="Our notes", location="§2", text="We use context managers for locks.")
DRAFT = Draft(
    title="Context managers",
    question="what is a context manager",
    summary=[Claim(text="A context manager sets up and tears down.", citations=[1])],
    sections=[],
    sources=[SourceRef(number=1, source_id="doc1", title="Doc", location="§1", passage=PASSAGE.text)],
)
ART = Artifact(path="/x/report.md", sha256="0" * 64, media_type="text/markdown", size=10)


def outputs_for(kind: str, task_input: dict[str, Any]) -> dict[str, Any]:
    if kind == "plan":
        return PlanOutput(sub_questions=["What is a context manager?", "How is it used?"]).model_dump()
    if kind == "search":
        # A search of the web offers a page (an allow-listed one), which the run then fetches.
        offered = [WebCandidate(url=WEB_PAGE, title="contextlib")] if "web" in (task_input.get("sources") or []) else []
        return SearchOutput(
            sub_question=task_input["sub_question"], passages=[PASSAGE], candidates=offered
        ).model_dump()
    if kind == "fetch":
        page = Passage(source_id=WEB_PAGE, title="contextlib", location="§1", text="with calls __enter__.")
        found = [SearchOutput(sub_question=w["sub_question"], passages=[page]) for w in task_input["wanted"]]
        return FetchOutput(findings=found).model_dump()
    if kind == "read":
        findings = [SearchOutput(sub_question=q, passages=[UPLOAD]) for q in task_input["sub_questions"]]
        return ReadOutput(findings=findings).model_dump()
    if kind == "collect":
        return CollectOutput(findings=task_input["findings"], passages=1, duplicates_dropped=1).model_dump()
    if kind == "synthesise":
        return SynthesiseOutput(draft=DRAFT).model_dump()
    if kind == "verify":
        return VerifyOutput(checked=1, supported=1, support_rate=1.0).model_dump()
    if kind == "index":
        return IndexOutput(chunks=2).model_dump()
    return ReportOutput(
        title="t", markdown=ART, pdf=ART.model_copy(update={"media_type": "application/pdf"})
    ).model_dump()


def work(app: Orchestrator, run_id: str, rounds: int = 30, stop_at: str | None = None) -> None:
    """Play policy and the workers until the run ends (or reaches `stop_at`)."""
    for _ in range(rounds):
        run = app.get_run(run_id)
        if run.is_terminal or run.state == stop_at or run.state == "waiting_approval":
            return
        for task_id in with_status(app, run_id, "requested"):
            app.apply_decision(decide(app.get_run(run_id), task_id))
        for task_id in with_status(app, run_id, "dispatched"):
            run = app.get_run(run_id)
            task = run.tasks[task_id]
            # What the worker receives: the input built from the run's state at dispatch.
            app.finish_task(succeed(run, task_id, outputs_for(task.kind, task_input(run, task))))


def started(
    app: Orchestrator,
    approval: bool = False,
    timeout_s: int = 3600,
    sources: list[str] | None = None,
    plan: str = "free",
) -> str:
    req = requested(approval, timeout_s, sources)
    app.start_run(req)
    app.admit_run(reserved(req, plan))
    return req.run_id or ""


def rate_limited(run: Run, task_id: str, wait_s: float = 12.5) -> ToolDecided:
    decided = decide(run, task_id, decision="deny")
    payload = decided.payload.model_copy(
        update={"reasons": ["rate limit: plan allows 1 call per 60s"], "policy_ids": [], "retry_after_s": wait_s}
    )
    return decided.model_copy(update={"payload": payload, "event_id": new_id()})


def published(app: Orchestrator, translate: Translator, *, only: str = "", limit: int = 100_000) -> list[Outgoing]:
    """What the relay publishes, in order, from the first `limit` stored events as `translate`
    maps them; with `only`, just the events of that aggregate (`"Rollout."`)."""
    at = aggregate_at(app)
    events = (app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(start=1, limit=limit))
    return [o for e in events if type(e).__qualname__.startswith(only) for o in translate(e, at)]


def relayed(app: Orchestrator) -> list[Outgoing]:
    """What the relay publishes for the runs' share of the first 10,000 stored events."""
    return published(app, translate, limit=10_000)


def relayed_monitors(app: Orchestrator, limit: int) -> list[Outgoing]:
    """What the relay publishes for the monitors' share of the first `limit` stored events."""
    return published(app, translate_monitor, limit=limit)


def failed_event(app: Orchestrator) -> RunFailed:
    ends = [o.event for o in relayed(app) if isinstance(o.event, RunFailed)]
    assert len(ends) == 1, ends
    return ends[0]
