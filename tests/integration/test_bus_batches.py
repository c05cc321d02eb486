"""A fetched batch on the Bus's own pull consumer (quarry_runtime.pulling) on a real JetStream: the
batch is handled together, yet every message of it is delivered on its own. A malformed one is dead-lettered
while its neighbours are handled, a `NotReady` one is redelivered until it is ready, and a message
is acknowledged only once its commit holds it: one whose handling fails after its commit (before
its ack) is redelivered and meters nothing twice, with billing's usage consumer fetching as many
as it does in production. (The poison bound on this path: test_bus_crashes.)"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from contracts import subjects
from contracts.run import RunRequested, RunRequestedPayload
from contracts.usage import UsageRecorded, UsageRecordedPayload
from quarry_runtime.bus import Bus, Subscription, ensure_streams
from quarry_runtime.errors import NotReady
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.billing.application import Billing
from services.billing.handlers import subscriptions
from tests.integration.test_bus_crashes import dead_letter_of
from tests.support.jetstream import drained

pytestmark = pytest.mark.infra


@contextlib.asynccontextmanager
async def consuming(nats_url: str, sub: Subscription) -> AsyncIterator[tuple[Bus, Bus, JetStreamContext]]:
    """A publisher, and a bus (the service named as the durable) running `sub` once started; its
    durable starts at the next message, so what the test publishes before starting is one batch."""
    publisher = Bus(nats_url, f"publisher-{uuid.uuid4().hex[:8]}")
    bus = Bus(nats_url, sub.durable, max_deaths=1)
    await publisher.start()
    try:
        js = publisher.broker.connection.jetstream()
        await ensure_streams(publisher.broker)
        config = ConsumerConfig(
            name=sub.durable,
            durable_name=sub.durable,
            filter_subject=sub.subject,
            ack_policy=AckPolicy.EXPLICIT,
            max_deliver=-1,
            deliver_policy=DeliverPolicy.NEW,
        )
        await js.add_consumer(subjects.STREAM, config)
        bus.subscribe(sub)
        yield publisher, bus, js
    finally:
        await bus.stop()
        await publisher.stop()


def request(question: str, tenant: str) -> RunRequested:
    payload = RunRequestedPayload(question=question, depth=1, max_sources=3)
    return RunRequested.create(payload, tenant_id=tenant, run_id=str(uuid.uuid4()))


async def test_a_batch_dead_letters_its_malformed_message_and_redelivers_the_not_ready_one(nats_url: str) -> None:
    durable, tenant, marker = f"batch-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, uuid.uuid4().hex
    attempts: Counter[str] = Counter()

    async def handle(ev: RunRequested) -> None:
        attempts[ev.payload.question] += 1
        if ev.payload.question == "late" and attempts["late"] < 3:
            raise NotReady("dependency not there yet", delay_s=0.05)

    sub = Subscription(subjects.RUN_REQUESTED, durable, handle, batch=16)
    async with consuming(nats_url, sub) as (publisher, bus, js):
        first, late, last = request("first", tenant), request("late", tenant), request("last", tenant)
        await publisher.publish(first)
        malformed = b'{"type": "run.requested", "payload": {"question": 7, "marker": "%s"}}' % marker.encode()
        await publisher.broker.publish(malformed, subjects.RUN_REQUESTED, stream=subjects.STREAM)
        await publisher.publish(late)
        await publisher.publish(last)
        await bus.start()
        await drained(js, durable)
        assert attempts == {"first": 1, "late": 3, "last": 1}
        letter = await dead_letter_of(js, durable, marker)
        assert letter is not None and letter.headers is not None
        assert "malformed RunRequested" in letter.headers["Quarry-Reason"]
        for ev in (first, late, last):
            assert await dead_letter_of(js, durable, ev.event_id) is None


async def test_a_batch_acks_after_commit_and_a_redelivery_meters_nothing_twice(nats_url: str, tmp_path: Path) -> None:
    """The handling of one message of the batch fails after its commit, before its ack: it is
    redelivered, found metered, and acknowledged; its neighbours are metered once each."""
    app = Billing(env=eventstore_env(RuntimeSettings(data_dir=tmp_path / "billing"), "billing"))
    group = app.group_commit(on_saved=lambda: None)
    [usage] = [s for s in subscriptions(app) if s.subject == subjects.USAGE_RECORDED]
    assert usage.batch >= 6, "the six usage events fit in one fetch"
    tenant, run_id = uuid.uuid4().hex, str(uuid.uuid4())
    events = [
        UsageRecorded.create(
            UsageRecordedPayload(task_id=f"task-{i}", kind="search", tool="web_search", search_calls=1),
            tenant_id=tenant,
            run_id=run_id,
        )
        for i in range(6)
    ]
    victim = events[2]
    deliveries: Counter[str] = Counter()

    async def handle(ev: Any) -> None:
        deliveries[ev.event_id] += 1
        await usage.handler(ev)  # returns once the commit holds it
        if ev.event_id == victim.event_id and deliveries[ev.event_id] == 1:
            raise RuntimeError("failed between commit and ack")

    writer = asyncio.create_task(group.run())
    sub = Subscription(usage.subject, f"billing-batch-{uuid.uuid4().hex[:8]}", handle, batch=usage.batch)
    try:
        async with consuming(nats_url, sub) as (publisher, bus, js):
            for ev in events:
                await publisher.publish(ev)
            await bus.start()
            await drained(js, sub.durable)
    finally:
        writer.cancel()
    assert deliveries[victim.event_id] == 2
    assert all(deliveries[ev.event_id] == 1 for ev in events if ev is not victim)
    app.forget(tenant)  # read back from the store
    metered = app.ledger(tenant, copy=False).metered
    assert sorted(metered) == sorted(ev.event_id for ev in events)
    app.close()


async def test_an_event_the_subscriber_applied_itself_is_acknowledged_without_being_handled(nats_url: str) -> None:
    """The gateway reads back the run.* events its own requests published and applied: asked by
    the message's id before parsing, such a message is acknowledged and never reaches the handler;
    the others are handled as ever."""
    durable, tenant = f"applied-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    mine, theirs = request("mine", tenant), request("theirs", tenant)
    handled: list[str] = []

    async def handle(ev: RunRequested) -> None:
        handled.append(ev.payload.question)

    asked: list[str] = []

    def applied_here(event_id: str) -> bool:
        asked.append(event_id)
        return event_id == mine.event_id

    sub = Subscription(subjects.RUN_REQUESTED, durable, handle, batch=16, applied_here=applied_here)
    async with consuming(nats_url, sub) as (publisher, bus, js):
        await publisher.publish(mine)
        await publisher.publish(theirs)
        await bus.start()
        await drained(js, durable)  # both acknowledged: nothing pending, nothing unacked
        assert await dead_letter_of(js, durable, mine.event_id) is None
    assert handled == ["theirs"]
    assert asked == [mine.event_id, theirs.event_id]
