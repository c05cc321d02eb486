"""A run's failures on in-memory storage: rate limits, retries and their backoff, time-outs,
cancellation, and whose fault a failed run was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from contracts.run import RunCancelRequested, RunCancelRequestedPayload
from contracts.task import TaskFailed, TaskFailedPayload
from contracts.timer import TimerFired
from quarry_runtime.outbox import Outgoing
from services.orchestrator.application import Orchestrator
from services.orchestrator.runs.domain import MAX_THROTTLE_WAIT_S, MAX_THROTTLES
from services.orchestrator.tasks import POLICIES, QUEUE_ALLOWANCE_S
from tests.support.orchestrator import (
    Clock,
    decide,
    fail,
    failed_event,
    outputs_for,
    rate_limited,
    relayed,
    started,
    succeed,
    timer,
    with_status,
    work,
)


def _timer(out: Outgoing) -> TimerFired:
    assert isinstance(out.event, TimerFired), out.event
    return out.event


def test_a_rate_limited_tool_is_asked_for_again_after_the_wait_policy_names(app: Orchestrator, clock: Clock) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(rate_limited(app.get_run(run_id), plan_id))
    run = app.get_run(run_id)
    task = run.tasks[plan_id]
    assert (run.state, task.status, task.throttles) == ("planning", "requested", 1), "held back, not failed"
    (retry,) = [o for o in relayed(app) if o.at is not None and o.event.payload.purpose == "tool_retry"]
    assert retry.at == clock.now + timedelta(seconds=12.5) and retry.event.payload.attempt == 1
    clock.now += timedelta(seconds=13)
    app.fire_timer(_timer(retry))
    app.fire_timer(_timer(retry))  # redelivered: asked again once
    requests = [o.event.payload.request_id for o in relayed(app) if o.event.type == "tool.requested"]
    assert requests[:2] == [f"{plan_id}:1", f"{plan_id}:2"] and requests.count(f"{plan_id}:2") == 1
    app.apply_decision(decide(app.get_run(run_id), plan_id))
    assert app.get_run(run_id).tasks[plan_id].status == "dispatched"


def test_a_tool_held_back_too_often_or_too_long_is_a_denial(app: Orchestrator) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    for n in range(1, MAX_THROTTLES + 1):
        app.apply_decision(rate_limited(app.get_run(run_id), plan_id))
        retry = [o for o in relayed(app) if o.at is not None and o.event.payload.attempt == n][-1]
        app.fire_timer(_timer(retry))
    app.apply_decision(rate_limited(app.get_run(run_id), plan_id))
    run = app.get_run(run_id)
    assert run.state == "failed" and "rate limit" in (run.failure or "")

    other = started(app)
    task_id = with_status(app, other, "requested")[0]
    app.apply_decision(rate_limited(app.get_run(other), task_id, wait_s=MAX_THROTTLE_WAIT_S + 1))
    assert app.get_run(other).state == "failed"


def test_a_failed_attempt_is_retried_after_a_backoff_then_succeeds(app: Orchestrator, clock: Clock) -> None:
    run_id, plan_id = planning(app)
    app.finish_task(fail(app.get_run(run_id), plan_id))
    task = app.get_run(run_id).tasks[plan_id]
    assert task.status == "retrying" and task.errors == ["attempt 1: boom"]
    clock.now += timedelta(seconds=1)
    app.fire_timer(timer(app.get_run(run_id), "task_retry", plan_id))
    task = app.get_run(run_id).tasks[plan_id]
    assert task.status == "dispatched" and task.attempt == 2
    work(app, run_id)
    assert app.get_run(run_id).state == "completed"


def planning(app: Orchestrator) -> tuple[str, str]:
    """A run whose plan task policy has allowed: the run's id and the plan task's."""
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id))
    return run_id, plan_id


def plan_exhausted(app: Orchestrator) -> str:
    """A run whose plan fails its output check on every attempt; returns the run's id."""
    run_id, plan_id = planning(app)
    for _ in range(3):
        app.finish_task(succeed(app.get_run(run_id), plan_id, {"sub_questions": []}))  # fails its output check
        if app.get_run(run_id).tasks[plan_id].status == "retrying":
            app.fire_timer(timer(app.get_run(run_id), "task_retry", plan_id))
    return run_id


def test_a_task_that_exhausts_its_attempts_fails_the_run(app: Orchestrator) -> None:
    run_id = plan_exhausted(app)
    run = app.get_run(run_id)
    assert run.state == "failed"
    assert "output failed its check" in (run.failure or "") and "after 3 attempts" in (run.failure or "")


def test_a_timer_fired_twice_changes_the_run_once(app: Orchestrator, clock: Clock) -> None:
    """A re-armed schedule (quarry_runtime.timersweep) can fire after its original did: the same
    TimerFired, by event id, which the run has seen."""
    run_id, plan_id = planning(app)
    timeout = timer(app.get_run(run_id), "task_timeout", plan_id)
    app.fire_timer(timeout)
    version = app.get_run(run_id).version
    app.fire_timer(timeout)
    assert app.get_run(run_id).version == version
    task = app.get_run(run_id).tasks[plan_id]
    assert task.status == "retrying" and len(task.errors) == 1
    clock.now += timedelta(seconds=1)
    retry = timer(app.get_run(run_id), "task_retry", plan_id)
    app.fire_timer(retry)
    version = app.get_run(run_id).version
    app.fire_timer(retry)
    assert app.get_run(run_id).version == version and app.get_run(run_id).tasks[plan_id].attempt == 2


def test_a_non_retryable_failure_fails_at_once(app: Orchestrator) -> None:
    run_id, plan_id = planning(app)
    app.finish_task(fail(app.get_run(run_id), plan_id, retryable=False))
    assert app.get_run(run_id).state == "failed"


def test_a_task_that_does_not_answer_in_time_is_dispatched_again(app: Orchestrator) -> None:
    run_id, plan_id = planning(app)
    stale = timer(app.get_run(run_id), "task_timeout", plan_id)
    app.fire_timer(stale)
    assert app.get_run(run_id).tasks[plan_id].status == "retrying"
    app.fire_timer(timer(app.get_run(run_id), "task_retry", plan_id))
    assert app.get_run(run_id).tasks[plan_id].attempt == 2
    # The old attempt's timer again, or its late failure, changes nothing now.
    version = app.get_run(run_id).version
    app.fire_timer(stale)
    late = TaskFailedPayload(task_id=plan_id, kind="plan", attempt=1, reason="late", retryable=True)
    app.finish_task(TaskFailed.create(late, tenant_id="tenant-a", run_id=run_id))
    assert app.get_run(run_id).version == version
    work(app, run_id)
    assert app.get_run(run_id).state == "completed"


def test_a_dispatched_task_may_wait_its_turn_in_the_lane_before_its_own_time_counts(
    app: Orchestrator, clock: Clock
) -> None:
    run_id, plan_id = planning(app)
    (dispatch,) = [o.event for o in relayed(app) if o.event.type == "task.dispatched"]
    (timeout,) = [o for o in relayed(app) if o.at is not None and o.event.payload.purpose == "task_timeout"]
    # The worker bounds the task's run by `timeout_s` from when it starts it; the orchestrator
    # waits for the answer that long plus the time the task may queue behind others.
    assert dispatch.payload.timeout_s == POLICIES["plan"].timeout_s
    assert timeout.at == clock.now + timedelta(seconds=QUEUE_ALLOWANCE_S + POLICIES["plan"].timeout_s)
    app.fire_timer(_timer(timeout))
    assert (
        app.get_run(run_id)
        .tasks[plan_id]
        .errors[-1]
        .endswith(f"no answer within {QUEUE_ALLOWANCE_S + POLICIES['plan'].timeout_s:.0f}s of its dispatch")
    )


def test_cancel_waits_for_the_step_in_flight_then_stops(app: Orchestrator) -> None:
    run_id, plan_id = planning(app)
    cancel = RunCancelRequested.create(RunCancelRequestedPayload(), tenant_id="tenant-a", run_id=run_id)
    app.cancel_run(cancel)
    assert app.get_run(run_id).state == "planning"  # the plan is still running
    run = app.get_run(run_id)
    app.finish_task(succeed(run, plan_id, outputs_for("plan", {})))
    run = app.get_run(run_id)
    assert run.state == "cancelled"
    assert [t.kind for t in run.tasks.values()] == ["plan"]  # nothing new started
    assert run.usage_event_ids() == [f"u-{plan_id}"]


# -- whose fault a failed run was (billing charges the tenant's, refunds the platform's) ----


def denied_by_policy(app: Orchestrator) -> str:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id, decision="deny"))
    return run_id


def tenant_endpoint_down(app: Orchestrator) -> str:
    run_id, plan_id = planning(app)
    failure = fail(app.get_run(run_id), plan_id, retryable=False)
    payload = failure.payload.model_copy(update={"fault": "tenant", "reason": "the tenant's model endpoint is down"})
    app.finish_task(TaskFailed.model_validate(failure.model_copy(update={"payload": payload}).model_dump()))
    return run_id


def service_error(app: Orchestrator) -> str:
    run_id, plan_id = planning(app)
    app.finish_task(fail(app.get_run(run_id), plan_id, retryable=False))
    return run_id


@pytest.mark.parametrize(
    ("failing", "fault"),
    [
        (denied_by_policy, "tenant"),  # a tool denied by policy
        (tenant_endpoint_down, "tenant"),  # a failure of the tenant's own model endpoint
        (plan_exhausted, "platform"),  # retries exhausted on the platform's side
        (service_error, "platform"),
    ],
)
def test_a_failed_run_names_whose_fault_it_was(
    app: Orchestrator, failing: Callable[[Orchestrator], str], fault: str
) -> None:
    run_id = failing(app)
    assert app.get_run(run_id).state == "failed"
    assert failed_event(app).payload.fault == fault
