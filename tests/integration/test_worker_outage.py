"""A worker lane across an outage of its nats-server or a full journal: the task journal and the
bus being away (or out of space) is no fault of the task, so the task is waited out (never
dead-lettered for it), runs once, and completes when the server or the space is back."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid

import pytest
from nats.js.api import KeyValueConfig, StorageType

from contracts import subjects
from contracts.task import TaskDispatched, TaskDispatchedPayload, TaskSucceeded
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.errors import Unavailable
from quarry_runtime.worker import JOURNAL_BUCKET, KvJournal, WorkResult, lane
from tests.support.polling import eventually
from tests.support.restartable_nats import Server, server

pytestmark = pytest.mark.infra
__all__ = ["server"]  # the fixture

ROLE = "analyst"
# Longer than a JetStream request's time-out (nats-py: 5 s), so a journal write in the gap fails
# rather than waiting in the client's reconnect buffer for the server to return.
OUTAGE_S = 8.0


def dispatched() -> TaskDispatched:
    payload = TaskDispatchedPayload(task_id=str(uuid.uuid4()), kind="plan", role=ROLE, input={"question": "q?"})
    return TaskDispatched.create(payload, tenant_id=uuid.uuid4().hex, run_id=str(uuid.uuid4()))


async def _dead_letters(bus: Bus) -> int:
    info = await bus.broker.connection.jetstream().stream_info(subjects.DEADLETTER_STREAM)
    return int(info.state.messages)


async def test_a_task_whose_journal_write_meets_an_outage_runs_once_and_completes_after(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    task = dispatched()
    runs: list[str] = []
    started, release = asyncio.Event(), asyncio.Event()
    done: list[TaskSucceeded] = []

    async def execute(t: TaskDispatched) -> WorkResult:
        runs.append(t.event_id)
        started.set()
        await release.wait()  # the server goes away while the (paid) work is in hand
        return WorkResult(output={"sub_questions": ["a?"]})

    async def collect(ev: TaskSucceeded) -> None:
        done.append(ev)

    # max_deliver=2: a second failure that counted would dead-letter the task.
    bus = Bus(server.url, "analyst", max_deliver=2, ack_wait_s=6.0)
    bus.subscribe(lane(bus, ROLE, execute, durable="outage-lane"))
    bus.subscribe(Subscription(subjects.TASK_SUCCEEDED, "outage-succeeded", collect))
    caplog.set_level(logging.WARNING, logger="quarry_runtime.bus")
    await bus.start()
    try:
        await bus.publish(task, subjects.task_lane(ROLE))
        await asyncio.wait_for(started.wait(), 30)

        server.stop()
        release.set()  # the result is computed now, and the journal cannot take it
        await asyncio.sleep(OUTAGE_S)
        server.start()

        await eventually(lambda: any(e.payload.task_id == task.payload.task_id for e in done), 90, "never completed")
        assert runs == [task.event_id], "the work ran again after the outage"
        assert await KvJournal(bus).get(task.payload.task_id) is not None
        assert await _dead_letters(bus) == 0
        # The lane did meet the outage (and waited it out as one): not a lucky write in the gap.
        assert any(
            "outage-lane: waiting for a dependency" in r.getMessage() and "task journal" in r.getMessage()
            for r in caplog.records
        ), [r.getMessage() for r in caplog.records]
    finally:
        await bus.stop()


async def test_a_journal_read_during_an_outage_is_unavailable_and_the_task_runs_after(server: Server) -> None:
    task = dispatched()
    runs: list[str] = []

    async def execute(t: TaskDispatched) -> WorkResult:
        runs.append(t.event_id)
        return WorkResult(output={"sub_questions": ["a?"]})

    bus = Bus(server.url, "analyst")
    sub = lane(bus, ROLE, execute, durable="outage-read-lane")
    await bus.start()
    try:
        server.stop()
        # Neither the journal nor the publish can be reached: the bus will redeliver the task
        # later without counting this delivery against it, and nothing is run blind meanwhile.
        with pytest.raises(Unavailable, match="task journal"):
            await asyncio.wait_for(sub.handler(task), 60)
        assert runs == []

        server.start()
        deadline = time.monotonic() + 60
        while True:  # what the bus's redelivery does: try again until the server answers
            try:
                await asyncio.wait_for(sub.handler(task), 60)
                break
            except Unavailable:
                assert time.monotonic() < deadline, "the journal never came back"
                await asyncio.sleep(0.5)
        assert runs == [task.event_id]
        assert await KvJournal(bus).get(task.payload.task_id) is not None
        await sub.handler(task)  # a redelivery after the success finds the journal
        assert runs == [task.event_id]
    finally:
        await bus.stop()


async def test_a_task_whose_journal_is_full_waits_for_space_and_runs_once(server: Server) -> None:
    task = dispatched()
    runs: list[str] = []
    done: list[TaskSucceeded] = []

    async def execute(t: TaskDispatched) -> WorkResult:
        runs.append(t.event_id)
        return WorkResult(output={"sub_questions": ["a?" * 200]})

    async def collect(ev: TaskSucceeded) -> None:
        done.append(ev)

    bus = Bus(server.url, "analyst", max_deliver=2)
    bus.subscribe(lane(bus, ROLE, execute, durable="full-lane"))
    bus.subscribe(Subscription(subjects.TASK_SUCCEEDED, "full-succeeded", collect))
    await bus.start()
    try:
        # The journal's volume is all but full: an operator's small bucket, nearly used up. The
        # lane opens it as it is (a limit someone chose stays).
        js = bus.broker.connection.jetstream()
        config = KeyValueConfig(bucket=JOURNAL_BUCKET, history=1, storage=StorageType.FILE, max_bytes=1024)
        await (await js.create_key_value(config)).put("filler", b"x" * 700)
        await bus.publish(task, subjects.task_lane(ROLE))

        # Delivered more often than max_deliver allows a failing message, refused each time (a 503).
        async def deliveries() -> int:
            return int((await js.consumer_info(subjects.STREAM, "full-lane")).delivered.consumer_seq)

        deadline = time.monotonic() + 60
        while await deliveries() < 4:
            assert time.monotonic() < deadline, "the task was not delivered again while the journal was full"
            await asyncio.sleep(0.2)
        assert not done and await _dead_letters(bus) == 0

        # Space returns: the operator grows the bucket.
        info = await js.stream_info(f"KV_{JOURNAL_BUCKET}")
        await js.update_stream(dataclasses.replace(info.config, max_bytes=1 << 20))

        await eventually(lambda: any(e.payload.task_id == task.payload.task_id for e in done), 90, "never completed")
        assert runs == [task.event_id], "the work ran again while the journal was full"
        assert await _dead_letters(bus) == 0
    finally:
        await bus.stop()
