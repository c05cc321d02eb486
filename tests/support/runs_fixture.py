"""Realistic runs for the event-store benchmarks, driven through the real `Orchestrator`.

Policy, the workers, billing, the approver and the timer service are played here, as the unit
tests do, but with outputs of production size: six sub-questions, five passages of ~400
characters per search, a cited draft. Three attempts go wrong (a worker error, a time-out, a
draft that fails its check) and are retried, and every run waits for the publish approval,
so one run stores 59 events: every kind on the way to completion (none of denial, cancel,
refusal, expiry or failure).

Everything is generated on in-memory storage (`eventsourcing.popo`); the benchmarks copy
the stored events into the store they measure, so generation is never on the clock.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Recording

from contracts.approval import ApprovalGiven, ApprovalPayload
from contracts.credits import CreditsReserved, CreditsReservedPayload, CreditsSettled, CreditsSettledPayload
from contracts.envelope import Actor, Event
from contracts.ids import new_id
from contracts.report import ReportPublished, ReportPublishedPayload
from contracts.run import RunRequested, RunRequestedPayload
from contracts.task import TaskFailed, TaskSucceeded
from contracts.timer import TimerFired
from contracts.tool import ToolDecided
from contracts.work import (
    ReportOutput,
)
from services.orchestrator.application import Orchestrator
from services.orchestrator.runs.domain import Run
from services.orchestrator.runs.translate import translate
from services.orchestrator.runs.workflow import task_id
from tests.support.run_outputs import allowed, filler_text, finished, timer_fired

# The cache spares generation a refold of the run on every handled event; it is not what is measured.
GENERATION_ENV = {
    "PERSISTENCE_MODULE": "eventsourcing.popo",
    "AGGREGATE_CACHE_MAXSIZE": "100000",
    "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
}


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=250)
        return self.now


class RecordingOrchestrator(Orchestrator):
    """The orchestrator, keeping the domain events of each save: the unit the real one commits."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env=env)
        self.saves: list[list[DomainEventProtocol[Any]]] = []

    # `_record` is where every save's events meet, whatever `save` was given.
    def _record(self, processing_event: ProcessingEvent[Any]) -> list[Recording[Any]]:
        self.saves.append(list(processing_event.events))
        return super()._record(processing_event)


@dataclass
class Fixture:
    """The generated runs: the app holding them, each save's events, and the bus events seen."""

    app: RecordingOrchestrator
    run_ids: list[str]
    # Contract events delivered to the orchestrator, or published by the other services,
    # that the gateway's read model consumes (timers never reach it).
    inputs: list[Event] = field(default_factory=list)

    @property
    def saves(self) -> list[list[DomainEventProtocol[Any]]]:
        return self.app.saves

    def event_count(self) -> int:
        return sum(len(s) for s in self.saves)


def generate(runs: int, seed: int = 7) -> Fixture:
    rng = random.Random(seed)
    app = RecordingOrchestrator(GENERATION_ENV)
    app.clock = _Clock()
    fixture = Fixture(app, [])
    for _ in range(runs):
        fixture.run_ids.append(_drive(app, rng, fixture.inputs))
    return fixture


def _drive(app: Orchestrator, rng: random.Random, seen: list[Event]) -> str:
    """One run from request to completion; returns its id."""
    req = RunRequested.create(
        RunRequestedPayload(question=filler_text(rng, 90), depth=2, max_sources=8, approval_required=True),
        tenant_id=f"tenant-{rng.randrange(20)}",
        run_id=new_id(),
        actor=Actor(user_id=f"user-{rng.randrange(100)}", roles=["owner"]),
    )
    run_id = req.run_id or ""
    deliver: list[Event] = [req, CreditsReserved.caused_by(req, CreditsReservedPayload(amount=40, balance=960))]
    for ev in deliver:
        _handle(app, ev, seen)
    # Which attempts go wrong: a worker error on one search, no answer in time from collect,
    # a draft citing a source it does not list; each is retried once and then succeeds.
    run = app.get_run(run_id)
    faults = {
        task_id(run, "search", 1): "error",
        task_id(run, "collect", 0): "timeout",
        task_id(run, "synthesise", 0): "invalid",
    }
    for _ in range(60):
        run = app.get_run(run_id)
        if run.is_terminal:
            break
        if run.state == "waiting_approval":
            pending = run.pending_approval()
            approval = ApprovalGiven.create(
                ApprovalPayload(approval_id=pending.approval_id if pending else None, comment="looks right"),
                tenant_id=run.tenant_id,
                run_id=run_id,
                actor=Actor(user_id=run.user_id, roles=["owner"]),
            )
            _handle(app, approval, seen)
            continue
        for task in list(run.tasks.values()):
            if task.status == "requested":
                _handle(app, allowed(run, task), seen)
            elif task.status == "dispatched":
                fault = faults.pop(task.task_id, None)
                if fault != "timeout":
                    _handle(app, finished(rng, run, task, fault), seen)
                if fault is not None:
                    if fault == "timeout":
                        _handle(app, timer_fired(run, task, "task_timeout"), seen)
                    _handle(app, timer_fired(app.get_run(run_id), task, "task_retry"), seen)
    run = app.get_run(run_id)
    if run.state != "completed":
        raise RuntimeError(f"generated run {run_id} ended {run.state}: {run.failure}")
    report = next(t for t in run.tasks_of("report"))
    parsed = ReportOutput.model_validate(report.output)
    seen.append(
        ReportPublished.create(
            ReportPublishedPayload(
                task_id=report.task_id, title=parsed.title, markdown=parsed.markdown, pdf=parsed.pdf
            ),
            tenant_id=run.tenant_id,
            run_id=run_id,
        )
    )
    seen.append(
        CreditsSettled.caused_by(
            req, CreditsSettledPayload(amount=31, usage_event_ids=run.usage_event_ids(), balance=929)
        )
    )
    return run_id


def _handle(app: Orchestrator, ev: Event, seen: list[Event]) -> None:
    if isinstance(ev, RunRequested):
        app.start_run(ev)
    elif isinstance(ev, CreditsReserved):
        app.admit_run(ev)
    elif isinstance(ev, ToolDecided):
        app.apply_decision(ev)
    elif isinstance(ev, TaskSucceeded | TaskFailed):
        app.finish_task(ev)
    elif isinstance(ev, TimerFired):
        app.fire_timer(ev)
    elif isinstance(ev, ApprovalGiven):
        app.decide_approval(ev)
    if not isinstance(ev, TimerFired):
        seen.append(ev)


def gateway_events(fixture: Fixture) -> list[Event]:
    """Every envelope the gateway's run read model would receive for the generated runs.

    The orchestrator's own publications are made from its stored events by `translate`, as
    its outbox relay makes them; timers go to the scheduler, not to the gateway. The
    result is in event-id order, which is time order: roughly the order of arrival.
    """
    current: dict[Any, Any] = {}

    def run_at(originator_id: Any, _version: int) -> Run:
        run: Run = current[originator_id]
        return run

    out: list[Event] = list(fixture.inputs)
    for events in fixture.saves:
        for domain_event in events:
            ev: Any = domain_event
            # translate reads the run as it was just after this event: fold up to it.
            current[ev.originator_id] = ev.mutate(current.get(ev.originator_id))
            out.extend(o.event for o in translate(ev, run_at) if o.at is None)
    out.sort(key=lambda e: e.event_id)
    return out


def stored_events(app: Orchestrator) -> Sequence[Any]:
    """The generated log as stored events, in notification order."""
    return app.recorder.select_notifications(start=1, limit=10_000_000)
