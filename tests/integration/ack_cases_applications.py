"""Ack-after-commit cases for the event-sourced services' consumers: the orchestrator and billing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts import subjects
from contracts.approval import ApprovalGiven, ApprovalPayload, ApprovalRejected
from contracts.consumers import CONSUMERS
from contracts.credits import CreditsDenied, CreditsDeniedPayload, CreditsSettled, CreditsSettledPayload
from contracts.envelope import Actor, Event
from contracts.monitor import MonitorChanged, MonitorChangedPayload
from contracts.question import QuestionAsked
from contracts.run import (
    RunCancelled,
    RunCancelledPayload,
    RunCancelRequested,
    RunCancelRequestedPayload,
    RunExpired,
    RunExpiredPayload,
    RunFailed,
    RunFailedPayload,
    RunPlanReviewed,
    RunPlanReviewedPayload,
    RunRejected,
    RunRejectedPayload,
    RunRequested,
)
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.groupcommit import GroupCommit
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.billing.application import Billing
from services.billing.handlers import subscriptions as billing_subscriptions
from services.orchestrator.application import Orchestrator
from services.orchestrator.handlers import subscriptions as orchestrator_subscriptions
from tests.integration.ack_faults import EventStoreFault, clone_event_store, notifications
from tests.integration.ack_proof import Build, Case
from tests.support import orchestrator as orch
from tests.support.credits import answered as billing_answered
from tests.support.credits import asked as billing_asked
from tests.support.credits import completed, question_failed, question_usage, request, run_to_completion, usage
from tests.support.questions import asked as question_asked
from tests.support.rollout_app import run_of
from tests.support.rollout_app import start as start_rollout
from tests.support.rollout_app import versions as rollout_versions
from tests.unit.test_monitors import created as monitor_created
from tests.unit.test_plan_review import started as started_for_review


async def event_sourced_case(
    app: Any,
    twin: Any,
    subscriptions: Callable[[Any], list[Subscription]],
    group: GroupCommit,
    durable: str,
    event: Event,
    copies: int,
) -> Case:
    """The case for an event-sourced service's consumer: its effect is what `app` records, and
    what it must record is what `twin` (a copy of the store) records once the same handler has
    applied the message there with nothing failing."""
    await {s.durable: s.handler for s in subscriptions(twin)}[durable](event)
    expected = notifications(twin)
    twin.close()
    app.group = group
    return Case(
        subscriptions=subscriptions(app),
        event=event,
        fault=EventStoreFault(app),
        effect=lambda: notifications(app),
        expected=lambda: expected,
        background=[group.run],
        closers=[app.close],
        copies=copies,
    )


# -- the orchestrator -------------------------------------------------------------------------

OrchestratorSetup = Callable[[Orchestrator], Event]


def orchestrator_case(tmp_path: Path, setup: OrchestratorSetup, durable: str, copies: int = 1) -> Build:
    async def build(bus: Bus) -> Case:
        settings = RuntimeSettings(data_dir=tmp_path / "orchestrator")
        clock = orch.Clock()
        app = Orchestrator(env=eventstore_env(settings, "orchestrator"))
        app.clock = clock
        event = setup(app)  # the run (or monitor) driven to where the message matters, committed
        twin = Orchestrator(
            env=eventstore_env(clone_event_store(settings, "orchestrator", tmp_path / "twin"), "orchestrator")
        )
        twin.clock = clock
        group = GroupCommit(app, after_commit=app.committed)
        return await event_sourced_case(app, twin, orchestrator_subscriptions, group, durable, event, copies)

    return build


def _plan_requested(app: Orchestrator) -> tuple[str, str]:
    run_id = orch.started(app)
    return run_id, orch.with_status(app, run_id, "requested")[0]


def _plan_dispatched(app: Orchestrator) -> tuple[str, str]:
    run_id, plan_id = _plan_requested(app)
    app.apply_decision(orch.decide(app.get_run(run_id), plan_id))
    return run_id, plan_id


def _waiting_approval(app: Orchestrator) -> str:
    run_id = orch.started(app, approval=True)
    orch.work(app, run_id)
    assert app.get_run(run_id).state == "waiting_approval"
    return run_id


def _started_request(app: Orchestrator) -> RunRequested:
    req = orch.requested()
    app.start_run(req)
    return req


def _approval(cls: type[ApprovalGiven] | type[ApprovalRejected]) -> OrchestratorSetup:
    def setup(app: Orchestrator) -> Event:
        run_id = _waiting_approval(app)
        return cls.create(
            ApprovalPayload(comment="read it"), tenant_id="tenant-a", run_id=run_id, actor=Actor(user_id="boss")
        )

    return setup


def _plan_reviewed(app: Orchestrator) -> Event:
    run_id = started_for_review(app)
    orch.work(app, run_id)
    assert app.get_run(run_id).state == "awaiting_plan_review"
    payload = RunPlanReviewedPayload(action="continue", sub_questions=["How is a context manager used?"])
    return RunPlanReviewed.create(payload, tenant_id="tenant-a", run_id=run_id, actor=Actor(user_id="u1"))


def _monitor_changed(app: Orchestrator) -> Event:
    ev = monitor_created()
    app.create_monitor(ev)
    payload = MonitorChangedPayload(monitor_id=ev.payload.monitor_id, change="paused")
    return MonitorChanged.create(payload, tenant_id=ev.tenant_id, actor=ev.actor)


def _question_asked(app: Orchestrator) -> QuestionAsked:
    run_id = orch.started(app)
    orch.work(app, run_id)
    return question_asked(run_id)


def _run_settled(app: Orchestrator) -> Event:
    """Billing's settlement of a run that took an arm of a live rollout and completed."""
    _, candidate = rollout_versions(app)
    start_rollout(app, candidate)
    run_id = run_of(app, "tenant-a")
    payload = CreditsSettledPayload(amount=12, usage_event_ids=[], balance=100)
    return CreditsSettled.create(payload, tenant_id="tenant-a", run_id=run_id)


ORCHESTRATOR: dict[str, OrchestratorSetup] = {
    subjects.RUN_REQUESTED: lambda app: orch.requested(),
    subjects.CREDITS_RESERVED: lambda app: orch.reserved(_started_request(app)),
    subjects.CREDITS_DENIED: lambda app: CreditsDenied.caused_by(
        _started_request(app), CreditsDeniedPayload(required=50, balance=3, reason="short")
    ),
    subjects.TOOL_DECIDED: lambda app: orch.decide(app.get_run((ids := _plan_requested(app))[0]), ids[1]),
    subjects.TASK_SUCCEEDED: lambda app: orch.succeed(
        app.get_run((ids := _plan_dispatched(app))[0]), ids[1], orch.outputs_for("plan", {})
    ),
    subjects.TASK_FAILED: lambda app: orch.fail(app.get_run((ids := _plan_dispatched(app))[0]), ids[1]),
    subjects.TIMER_FIRED: lambda app: orch.timer(
        app.get_run((ids := _plan_dispatched(app))[0]), "task_timeout", ids[1]
    ),
    subjects.RUN_CANCEL_REQUESTED: lambda app: RunCancelRequested.create(
        RunCancelRequestedPayload(), tenant_id="tenant-a", run_id=_plan_dispatched(app)[0]
    ),
    subjects.APPROVAL_GIVEN: _approval(ApprovalGiven),
    subjects.APPROVAL_REJECTED: _approval(ApprovalRejected),
    subjects.RUN_PLAN_REVIEWED: _plan_reviewed,
    subjects.MONITOR_CREATED: lambda app: monitor_created(),
    subjects.MONITOR_CHANGED: _monitor_changed,
    subjects.QUESTION_ASKED: _question_asked,
    subjects.CREDITS_SETTLED: _run_settled,
}


# -- billing ------------------------------------------------------------------------------------

BillingSetup = Callable[[Billing], Event]
BILLING_NOW = datetime(2026, 5, 5, tzinfo=UTC)


def billing_case(tmp_path: Path, setup: BillingSetup, durable: str, copies: int = 1) -> Build:
    async def build(bus: Bus) -> Case:
        settings = RuntimeSettings(data_dir=tmp_path / "billing")
        app = Billing(env=eventstore_env(settings, "billing"))
        app.clock = lambda: BILLING_NOW
        event = setup(app)
        twin = Billing(env=eventstore_env(clone_event_store(settings, "billing", tmp_path / "twin"), "billing"))
        twin.clock = app.clock
        group = GroupCommit(app, after_commit=app.committed, on_drop=app.forget_aggregate)
        return await event_sourced_case(app, twin, billing_subscriptions, group, durable, event, copies)

    return build


def _admitted(app: Billing) -> RunRequested:
    req = request("t1")
    app.admit(req)
    return req


def _ended(make: Callable[[RunRequested], Event]) -> BillingSetup:
    return lambda app: make(_admitted(app))


def _question(app: Billing) -> QuestionAsked:
    return billing_asked(run_to_completion(app, "t1", searches=1))


def _question_answered(app: Billing) -> Event:
    q = _question(app)
    app.ask_question(q)
    used = question_usage(q, 0, searches=1)
    app.meter(used)
    return billing_answered(q, [used])


def _question_failed(app: Billing) -> Event:
    q = _question(app)
    app.ask_question(q)
    return question_failed(q)


def _completed(app: Billing) -> Event:
    req = _admitted(app)
    used = usage(req, 0)
    app.meter(used)
    return completed(req, [used])


BILLING: dict[str, BillingSetup] = {
    subjects.RUN_REQUESTED: lambda app: request("t1"),
    subjects.USAGE_RECORDED: lambda app: usage(_admitted(app), 0),
    subjects.RUN_COMPLETED: _completed,
    subjects.RUN_FAILED: _ended(lambda req: RunFailed.caused_by(req, RunFailedPayload(reason="boom"))),
    subjects.RUN_CANCELLED: _ended(lambda req: RunCancelled.caused_by(req, RunCancelledPayload(reason="asked"))),
    subjects.RUN_EXPIRED: _ended(lambda req: RunExpired.caused_by(req, RunExpiredPayload(reason="late"))),
    subjects.RUN_REJECTED: _ended(lambda req: RunRejected.caused_by(req, RunRejectedPayload(reason="no"))),
    subjects.QUESTION_ASKED: _question,
    subjects.QUESTION_ANSWERED: _question_answered,
    subjects.QUESTION_FAILED: _question_failed,
}


def durables_of(service: str) -> dict[str, str]:
    return {c.subject: c.durable for c in CONSUMERS[service]}
