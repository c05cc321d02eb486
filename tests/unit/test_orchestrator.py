"""The Run aggregate and the orchestrator's use cases, on in-memory storage: the whole DAG,
redelivery, approvals, credits, and what a run publishes and keeps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from contracts.approval import ApprovalGiven, ApprovalPayload, ApprovalRejected
from contracts.credits import CreditsDenied, CreditsDeniedPayload
from contracts.envelope import Actor
from contracts.ids import new_id
from quarry_runtime.errors import NotReady
from services.orchestrator.application import Orchestrator
from services.orchestrator.runs.domain import TRANSITIONS, Run, RunError
from services.orchestrator.runs.translate import translate
from tests.support.orchestrator import (
    T0,
    Clock,
    decide,
    outputs_for,
    requested,
    reserved,
    started,
    succeed,
    timer,
    with_status,
    work,
)


def test_a_run_walks_the_whole_dag_and_completes(app: Orchestrator) -> None:
    run_id = started(app)
    assert app.get_run(run_id).state == "planning"
    work(app, run_id)
    run = app.get_run(run_id)
    assert run.state == "completed"
    assert [t.kind for t in run.tasks.values()] == [
        "plan",
        "search",
        "search",
        "read",  # the default sources include the tenant's datasets: read under read_dataset
        "collect",
        "synthesise",
        "verify",
        "index",
        "report",
    ]
    assert [t.tool for t in run.tasks_of("search") + run.tasks_of("read")] == ["web_search"] * 2 + ["read_dataset"]
    assert len(run.usage_event_ids()) == 9
    assert all(t.attempt == 1 for t in run.tasks.values())


def test_redelivered_events_change_nothing(app: Orchestrator) -> None:
    req = requested()
    app.start_run(req)
    app.start_run(req)
    res = reserved(req)
    app.admit_run(res)
    version = app.get_run(req.run_id or "").version
    app.admit_run(res)
    plan_id = with_status(app, req.run_id or "", "requested")[0]
    decision = decide(app.get_run(req.run_id or ""), plan_id)
    app.apply_decision(decision)
    after_decision = app.get_run(req.run_id or "").version
    app.apply_decision(decision)
    assert app.get_run(req.run_id or "").version == after_decision > version
    done = succeed(app.get_run(req.run_id or ""), plan_id, outputs_for("plan", {}))
    app.finish_task(done)
    after_result = app.get_run(req.run_id or "").version
    app.finish_task(done)
    assert app.get_run(req.run_id or "").version == after_result


def test_policy_deny_fails_the_run_with_the_reason(app: Orchestrator) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id, decision="deny"))
    run = app.get_run(run_id)
    assert run.state == "failed"
    assert "denied by policy" in (run.failure or "") and "because" in (run.failure or "")


def test_the_approval_gate_parks_the_run_until_approved(app: Orchestrator) -> None:
    run_id = started(app, approval=True)
    work(app, run_id)
    run = app.get_run(run_id)
    assert run.state == "waiting_approval"
    assert [t.kind for t in run.tasks.values()][-1] == "verify"
    pending = run.pending_approval()
    assert pending is not None and pending.subject == "publish"
    assert pending.deadline == T0 + timedelta(seconds=3600)
    given = ApprovalGiven.create(
        ApprovalPayload(comment="looks right"), tenant_id="tenant-a", run_id=run_id, actor=Actor(user_id="boss")
    )
    app.decide_approval(given)
    run = app.get_run(run_id)
    assert run.state == "indexing"
    approval = run.approvals[pending.approval_id]
    assert (approval.status, approval.decided_by, approval.comment) == ("approved", "boss", "looks right")
    work(app, run_id)
    assert app.get_run(run_id).state == "completed"


def test_a_refused_approval_rejects_the_run(app: Orchestrator) -> None:
    run_id = started(app, approval=True)
    work(app, run_id)
    refused = ApprovalRejected.create(
        ApprovalPayload(comment="not good enough"), tenant_id="tenant-a", run_id=run_id, actor=Actor(user_id="boss")
    )
    app.decide_approval(refused)
    run = app.get_run(run_id)
    assert run.state == "rejected"
    assert run.failure == "approval refused by boss: not good enough"


def test_an_approval_deadline_expires_the_run(app: Orchestrator, clock: Clock) -> None:
    run_id = started(app, approval=True, timeout_s=60)
    work(app, run_id)
    pending = app.get_run(run_id).pending_approval()
    assert pending is not None
    clock.now = pending.deadline
    app.fire_timer(timer(app.get_run(run_id), "approval_deadline", approval_id=pending.approval_id))
    assert app.get_run(run_id).state == "expired"


def test_policy_can_require_approval_for_one_tool_use(app: Orchestrator) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id, decision="require_approval", approval_timeout_s=600))
    run = app.get_run(run_id)
    assert run.state == "waiting_approval"
    pending = run.pending_approval()
    assert pending is not None and pending.subject == f"task:{plan_id}"
    assert pending.deadline == T0 + timedelta(seconds=600)  # the rule's timeout, not the run's hour
    app.decide_approval(
        ApprovalGiven.create(ApprovalPayload(approval_id=pending.approval_id), tenant_id="tenant-a", run_id=run_id)
    )
    run = app.get_run(run_id)
    assert run.state == "planning" and run.tasks[plan_id].status == "dispatched"


def test_denied_credits_reject_the_run(app: Orchestrator) -> None:
    req = requested()
    app.start_run(req)
    app.reject_run(CreditsDenied.caused_by(req, CreditsDeniedPayload(required=50, balance=3, reason="short")))
    run = app.get_run(req.run_id or "")
    assert run.state == "rejected" and not run.tasks


def test_events_for_an_unknown_run_wait_rather_than_fail(app: Orchestrator) -> None:
    with pytest.raises(NotReady):
        app.admit_run(reserved(requested()))


def test_illegal_transitions_are_refused_and_record_nothing() -> None:
    run = Run(run_id=new_id(), tenant_id="t", user_id=None, roles=[], question="q?", depth=1, max_sources=1, cause="c")
    run.reject("no", cause="d")
    version = run.version
    with pytest.raises(RunError):
        run.admit(10, "free", cause="e")
    with pytest.raises(RunError):
        run.complete()
    with pytest.raises(RunError):
        run.request_cancel("late", cause="f")
    assert run.version == version
    assert all(not TRANSITIONS[s] for s in ("completed", "failed", "rejected", "cancelled", "expired"))


def test_translation_publishes_the_saga_with_stable_ids_and_timers(app: Orchestrator) -> None:
    run_id = started(app)
    work(app, run_id)

    def run_at(originator_id: Any, version: int) -> Run:
        found: Run = app.repository.get(originator_id, version=version)
        return found

    notifications = app.recorder.select_notifications(start=1, limit=1000)
    published = [o for n in notifications for o in translate(app.mapper.to_domain_event(n), run_at)]
    events = [o for o in published if o.at is None]
    timers = [o for o in published if o.at is not None]
    subjects = [o.subject for o in events]
    assert subjects[0] == "run.v1.admitted"
    assert "task.v1.dispatched.analyst" in subjects and "task.v1.dispatched.retriever" in subjects
    assert subjects[-1] == "run.v1.completed"
    assert events[-1].event.payload.usage_event_ids == app.get_run(run_id).usage_event_ids()
    assert len(timers) == 9 and {t.event.payload.purpose for t in timers} == {"task_timeout"}
    again = [o for n in notifications for o in translate(app.mapper.to_domain_event(n), run_at)]
    assert [o.event.event_id for o in again] == [o.event.event_id for o in published]
    assert len({o.event.event_id for o in published}) == len(published)
    ordered = [o.event.event_id for o in events]
    assert ordered == sorted(ordered), "one run's events sort in the order they happened"


def test_a_finished_run_keeps_only_what_is_still_needed_and_is_read_from_a_snapshot(app: Orchestrator) -> None:
    run_id = started(app)
    work(app, run_id)
    run = app.get_run(run_id)
    assert run.state == "completed"
    assert all(t.output is None for t in run.tasks_of("search") + run.tasks_of("collect"))
    assert run.tasks_of("synthesise")[0].output is not None  # the final draft stays
    snapshots = list(app.snapshots.get(run.id)) if app.snapshots else []
    assert snapshots and snapshots[-1].originator_version == run.version
    dispatched = [
        o.event
        for n in app.recorder.select_notifications(start=1, limit=1000)
        for o in translate(app.mapper.to_domain_event(n), lambda i, v: app.repository.get(i, version=v))
        if o.subject == "task.v1.dispatched.analyst" and o.event.payload.kind == "synthesise"
    ]
    assert dispatched[0].payload.input["findings"], "the synthesis input is rebuilt from the searches at dispatch"
