"""Worker lanes on a real JetStream: results, usage, de-duplicated re-runs, and giving up."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from contracts import subjects
from contracts.envelope import Event
from contracts.task import TaskDispatched, TaskDispatchedPayload
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.worker import TaskError, Usage, WorkResult, lane
from services.orchestrator.rollouts.shadow import shadow_task_id
from tests.support.jetstream import drained
from tests.support.polling import eventually

pytestmark = pytest.mark.infra


ROLE = "analyst"


def dispatched(tenant: str, timeout_s: float = 300.0) -> TaskDispatched:
    payload = TaskDispatchedPayload(
        task_id=str(uuid.uuid4()), kind="plan", role=ROLE, timeout_s=timeout_s, input={"question": "q?"}
    )
    return TaskDispatched.create(payload, tenant_id=tenant, run_id=str(uuid.uuid4()))


async def run_lane(
    nats_url: str, execute: Any, tasks: list[TaskDispatched], want: int, copies: int = 1, until: Any = None
) -> list[Event]:
    """Run a lane of its own over `tasks` (each delivered `copies` times) and collect what it publishes."""
    tenant = tasks[0].tenant_id
    seen: list[Event] = []
    bus = Bus(nats_url, f"lane-{uuid.uuid4().hex[:6]}", max_deliver=2)

    async def collect(ev: Any) -> None:
        if ev.tenant_id == tenant:
            seen.append(ev)

    outcomes = (subjects.TASK_SUCCEEDED, subjects.TASK_FAILED, subjects.USAGE_RECORDED)
    collectors = {subject: f"{bus.service}-{subject.replace('.', '-')}" for subject in outcomes}
    bus.subscribe(lane(bus, ROLE, execute, durable=bus.service))
    for subject, durable in collectors.items():
        bus.subscribe(Subscription(subject, durable, collect))
    await bus.start()
    try:
        for task in tasks:
            for copy in range(copies):
                # Distinct message ids: JetStream delivers each copy, as after a crash before the ack.
                headers = {"Nats-Msg-Id": f"{task.event_id}-{copy}"}
                await bus.broker.publish(
                    task.to_bytes(), subjects.task_lane(ROLE), headers=headers, stream=subjects.STREAM
                )
        await eventually(lambda: len(seen) >= want and (until is None or until()), 20, f"{want} events from the lane")
        # The lane first: what it publishes goes to the collectors.
        await drained(bus.broker.connection.jetstream(), bus.service, *collectors.values())
        return seen
    finally:
        await bus.stop()


async def test_a_task_reports_usage_then_its_result(nats_url: str) -> None:
    task = dispatched(uuid.uuid4().hex)

    async def execute(t: TaskDispatched) -> WorkResult:
        return WorkResult(
            output={"sub_questions": ["a?"]}, usage=[Usage(tool="llm_generate", tokens_in=10, tokens_out=5)]
        )

    seen = await run_lane(nats_url, execute, [task], want=2)
    types = sorted(e.type for e in seen)
    assert types == ["task.succeeded", "usage.recorded"]
    done = next(e for e in seen if e.type == "task.succeeded")
    usage = next(e for e in seen if e.type == "usage.recorded")
    assert done.payload.usage_event_ids == [usage.event_id]
    assert usage.payload.tokens_in == 10 and usage.causation_id == task.event_id


async def test_a_task_delivered_three_times_runs_once_and_publishes_its_outcome_once(nats_url: str) -> None:
    task = dispatched(uuid.uuid4().hex)
    runs: list[str] = []

    async def execute(t: TaskDispatched) -> WorkResult:
        if t.tenant_id == task.tenant_id:  # a new durable also replays older tests' tasks
            runs.append(t.event_id)
        return WorkResult(output={"sub_questions": ["a?"]})

    # Three copies with distinct message ids, as after crashes before the ack: the journal
    # answers the second and third, so the work (a paid model call, say) happens once.
    seen = await run_lane(nats_url, execute, [task], want=2, copies=3)
    assert runs == [task.event_id]
    assert sorted(e.type for e in seen) == ["task.succeeded", "usage.recorded"]


async def test_a_bad_task_fails_and_a_broken_worker_gives_up_with_the_reason(nats_url: str) -> None:
    tenant = uuid.uuid4().hex
    bad, broken = dispatched(tenant), dispatched(tenant)

    async def execute(t: TaskDispatched) -> WorkResult:
        if t.event_id == bad.event_id:
            raise TaskError("the question is empty")
        raise RuntimeError("the model server is on fire")

    seen = await run_lane(nats_url, execute, [bad, broken], want=2)
    failed = {e.payload.task_id: e.payload.reason for e in seen if e.type == "task.failed"}
    assert failed[bad.payload.task_id] == "the question is empty"
    assert "failed 2 times: the model server is on fire" in failed[broken.payload.task_id]
    # Whose fault each was travels with it, for billing: a worker that gives up is the platform's.
    assert {e.payload.task_id: e.payload.fault for e in seen if e.type == "task.failed"} == {
        bad.payload.task_id: "platform",
        broken.payload.task_id: "platform",
    }


async def test_a_failure_of_the_tenants_making_says_so(nats_url: str) -> None:
    task = dispatched(uuid.uuid4().hex)

    async def execute(t: TaskDispatched) -> WorkResult:
        raise TaskError("the tenant's model endpoint refused its API key", fault="tenant")

    seen = await run_lane(nats_url, execute, [task], want=1)
    assert [(e.type, e.payload.fault) for e in seen] == [("task.failed", "tenant")]


async def test_a_tasks_time_box_counts_from_its_start_not_from_its_wait_in_the_queue(nats_url: str) -> None:
    tenant = uuid.uuid4().hex
    # Each may take 2 s once started and takes 1.2 s; a lane runs four at a time, so the last of
    # twelve start at least 2.4 s after their dispatch, past their time box had it counted from then.
    queued = [dispatched(tenant, timeout_s=2.0) for _ in range(12)]
    slow = dispatched(tenant, timeout_s=0.5)

    async def execute(t: TaskDispatched) -> WorkResult:
        await asyncio.sleep(30 if t.payload.task_id == slow.payload.task_id else 1.2)
        return WorkResult(output={"sub_questions": ["a?"]})

    seen = await run_lane(nats_url, execute, [*queued, slow], want=len(queued) * 2 + 1)
    succeeded = {e.payload.task_id for e in seen if e.type == "task.succeeded"}
    failed = {e.payload.task_id: e.payload for e in seen if e.type == "task.failed"}
    assert succeeded == {t.payload.task_id for t in queued}, failed
    assert set(failed) == {slow.payload.task_id}
    assert failed[slow.payload.task_id].reason == "no answer within 0.5s"
    assert failed[slow.payload.task_id].retryable  # the orchestrator tries it again


def shadow_of(task: TaskDispatched) -> TaskDispatched:
    """The shadow copy a rollout adds to `task`, as the orchestrator dispatches it."""
    marks = {"task_id": shadow_task_id(task.payload.task_id), "shadow": True, "shadow_of": task.payload.task_id}
    payload = task.payload.model_copy(update={**marks, "rollout_id": "r-1"})
    return TaskDispatched.create(payload, tenant_id=task.tenant_id, run_id=task.run_id)


async def test_a_shadow_tasks_outcome_says_so_and_its_usage_is_the_platforms(nats_url: str) -> None:
    tenant = uuid.uuid4().hex
    real, failing = dispatched(tenant), dispatched(tenant)
    good, bad = shadow_of(real), shadow_of(failing)

    async def execute(t: TaskDispatched) -> WorkResult:
        if t.event_id == bad.event_id:
            raise TaskError("the candidate cannot plan this")
        return WorkResult(output={"sub_questions": ["a?"]}, usage=[Usage(tool="llm_generate", tokens_in=10)])

    seen = await run_lane(nats_url, execute, [real, good, bad], want=5)
    outcomes = {e.payload.task_id: e for e in seen if e.type in ("task.succeeded", "task.failed")}
    assert not outcomes[real.payload.task_id].payload.shadow
    for copy, kind in ((good, "task.succeeded"), (bad, "task.failed")):
        p = outcomes[copy.payload.task_id].payload
        assert outcomes[copy.payload.task_id].type == kind
        assert (p.shadow, p.shadow_of, p.rollout_id) == (True, copy.payload.shadow_of, "r-1")
    payer = {e.payload.task_id: e.payload.billed_to for e in seen if e.type == "usage.recorded"}
    assert payer == {real.payload.task_id: "tenant", good.payload.task_id: "platform"}
