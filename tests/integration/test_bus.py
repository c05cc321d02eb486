"""The bus against a real NATS JetStream: de-duplication, dead-lettering, redelivery."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
from nats.js.errors import NotFoundError

from contracts import subjects
from contracts.run import RunRequested, RunRequestedPayload
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.errors import NotReady, Unavailable
from tests.support.jetstream import drained
from tests.support.polling import eventually

pytestmark = pytest.mark.infra


def request(question: str, tenant: str) -> RunRequested:
    return RunRequested.create(
        RunRequestedPayload(question=question, depth=1, max_sources=3), tenant_id=tenant, run_id=str(uuid.uuid4())
    )


async def has_dead_letter(bus: Bus, reason: str) -> bool:
    """Whether the bus's last dead letter was given `reason`."""
    js = bus.broker.connection.jetstream()
    try:
        last = await js.get_last_msg(subjects.DEADLETTER_STREAM, subjects.deadletter(bus.service))
    except NotFoundError:
        return False
    return reason in (last.headers or {}).get("Quarry-Reason", "")


async def with_consumer(
    nats_url: str,
    tenant: str,
    handler: Callable[[RunRequested], Awaitable[None]],
    body: Callable[[Bus], Awaitable[None]],
) -> None:
    """Runs `body` with a bus whose consumer hands `handler` the run requests of `tenant`; it
    acknowledges the rest of the stream (other tests' messages) untouched."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    bus = Bus(nats_url, name, max_deliver=3)

    async def tenants_own(ev: RunRequested) -> None:
        if ev.tenant_id == tenant:
            await handler(ev)

    bus.subscribe(Subscription(subjects.RUN_REQUESTED, name, tenants_own))
    await bus.start()
    try:
        await body(bus)
    finally:
        await bus.stop()


async def test_a_duplicate_publish_is_dropped_by_jetstream(nats_url: str) -> None:
    tenant = uuid.uuid4().hex
    seen: list[str] = []

    async def handler(ev: RunRequested) -> None:
        seen.append(ev.event_id)

    async def body(bus: Bus) -> None:
        ev = request("what is a duplicate?", tenant)
        assert await bus.publish(ev) is True
        assert await bus.publish(ev) is False
        marker = request("marker", tenant)
        await bus.publish(marker)
        await eventually(lambda: marker.event_id in seen)
        assert seen.count(ev.event_id) == 1

    await with_consumer(nats_url, tenant, handler, body)


async def test_a_malformed_message_is_dead_lettered_and_consuming_goes_on(nats_url: str) -> None:
    tenant = uuid.uuid4().hex
    seen: list[str] = []

    async def handler(ev: RunRequested) -> None:
        seen.append(ev.payload.question)

    async def body(bus: Bus) -> None:
        js = bus.broker.connection.jetstream()
        before = (await js.stream_info(subjects.DEADLETTER_STREAM)).state.messages
        await bus.broker.publish(
            b'{"type": "run.requested", "payload": {"question": 7}}', subjects.RUN_REQUESTED, stream=subjects.STREAM
        )
        good = request("after the poison", tenant)
        await bus.publish(good)
        await eventually(lambda: "after the poison" in seen)
        info = await js.stream_info(subjects.DEADLETTER_STREAM)
        assert info.state.messages >= before + 1
        last = await js.get_last_msg(subjects.DEADLETTER_STREAM, subjects.deadletter(bus.service))
        assert last.headers is not None
        assert "malformed RunRequested" in last.headers["Quarry-Reason"]
        assert last.headers["Quarry-Subject"] == subjects.RUN_REQUESTED
        assert b'"question": 7' in (last.data or b"")

    await with_consumer(nats_url, tenant, handler, body)


async def test_not_ready_is_redelivered_until_it_succeeds(nats_url: str) -> None:
    tenant = uuid.uuid4().hex
    attempts: list[float] = []
    done: list[str] = []

    async def handler(ev: RunRequested) -> None:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise NotReady("dependency not there yet", delay_s=0.1)
        done.append(ev.event_id)

    async def body(bus: Bus) -> None:
        ev = request("eventually ready", tenant)
        await bus.publish(ev)
        await eventually(lambda: bool(done))
        assert len(attempts) == 3

    await with_consumer(nats_url, tenant, handler, body)


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_max_deliver(nats_url: str) -> None:
    tenant = uuid.uuid4().hex
    attempts: list[int] = []

    async def handler(ev: RunRequested) -> None:
        attempts.append(1)
        raise RuntimeError("always broken")

    async def body(bus: Bus) -> None:
        await bus.publish(request("never works", tenant))
        await eventually(lambda: len(attempts) >= 3, 20)
        await eventually(lambda: has_dead_letter(bus, "failed 3 times: always broken"), 10)
        assert len(attempts) == 3

    await with_consumer(nats_url, tenant, handler, body)


async def test_an_outage_is_waited_out_and_never_counts_toward_dead_lettering(
    nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = uuid.uuid4().hex
    attempts: list[str] = []
    outage = 6  # twice max_deliver: counted, these deliveries alone would dead-letter the message

    async def handler(ev: RunRequested) -> None:
        if len(attempts) < outage:
            attempts.append("away")
            raise Unavailable("the database cannot be reached")
        attempts.append("broken")
        raise RuntimeError("broken on its own")

    async def body(bus: Bus) -> None:
        await bus.publish(request("through an outage", tenant))
        # Dead-lettered for its own three failures, after the outage's six deliveries. (The consumer
        # reads the whole stream: other tests' poison is dead-lettered here too.)
        await eventually(lambda: has_dead_letter(bus, "failed 3 times: broken on its own"), 30)
        assert attempts == ["away"] * outage + ["broken"] * 3

    with caplog.at_level("WARNING", logger="quarry_runtime.bus"):
        await with_consumer(nats_url, tenant, handler, body)
    waiting = [r for r in caplog.records if "waiting for a dependency" in r.getMessage()]
    assert len(waiting) == 1, "an outage is reported once per interval, not once per delivery"


async def test_a_long_handler_is_not_redelivered_while_it_works(nats_url: str) -> None:
    tenant = uuid.uuid4().hex
    calls: list[float] = []
    done: list[str] = []
    name = f"test-{uuid.uuid4().hex[:8]}"
    bus = Bus(nats_url, name, ack_wait_s=1.0, max_deliver=3)

    async def slow(ev: RunRequested) -> None:
        if ev.tenant_id == tenant:
            calls.append(time.monotonic())
            await asyncio.sleep(3.0)  # three ack waits
            done.append(ev.event_id)

    bus.subscribe(Subscription(subjects.RUN_REQUESTED, name, slow))
    await bus.start()
    try:
        await bus.publish(request("slow work", tenant))
        await eventually(lambda: bool(done), 15)
        [info] = await drained(bus.broker.connection.jetstream(), name)
        assert info.num_redelivered == 0
        assert len(calls) == 1
    finally:
        await bus.stop()
