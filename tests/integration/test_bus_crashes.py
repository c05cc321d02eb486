"""A message whose handling kills the process is dead-lettered with the reason after a bound
number of deaths, on a real JetStream with real processes, instead of killing every consumer
that receives it again; a healthy message redelivered for its own reasons never is."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid

import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NoKeysError

from contracts import subjects
from contracts.run import RunRequested, RunRequestedPayload
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.errors import NotReady
from quarry_runtime.inflight import RETRY_AFTER_FAILURE_S, InFlight, bucket_of
from tests.fakes.crashing_consumer import DIED
from tests.support.jetstream import drained
from tests.support.polling import eventually

pytestmark = pytest.mark.infra


def consumer(nats_url: str, durable: str, tenant: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.crashing_consumer", nats_url, durable, tenant],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


async def exit_code(proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> int | None:
    try:
        return await asyncio.to_thread(proc.wait, timeout_s)
    except subprocess.TimeoutExpired:
        return None


async def dead_letter_of(js: JetStreamContext, service: str, event_id: str) -> Msg | None:
    """The dead letter of one event among a service's (others' malformed test messages land there too)."""
    sub = await js.pull_subscribe(subjects.deadletter(service), stream=subjects.DEADLETTER_STREAM)
    try:
        letters = await sub.fetch(100, timeout=1)
    except TimeoutError:  # nats-py raises its own or asyncio's, depending on when the wait ran out
        return None
    finally:
        await sub.unsubscribe()
    return next((m for m in letters if event_id.encode() in m.data), None)


async def test_a_message_that_kills_its_consumer_is_dead_lettered_after_three_deaths(nats_url: str) -> None:
    durable, tenant = f"crashy-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    bus = Bus(nats_url, f"publisher-{uuid.uuid4().hex[:8]}")
    await bus.start()
    survivor: subprocess.Popen[bytes] | None = None
    try:
        poison = RunRequested.create(
            RunRequestedPayload(question="what kills the retriever?", depth=1, max_sources=3),
            tenant_id=tenant,
            run_id=str(uuid.uuid4()),
        )
        await bus.publish(poison)
        # The first delivery is not marked, so max_deaths=2 lets the message kill three processes.
        for death in (1, 2, 3):
            proc = consumer(nats_url, durable, tenant)
            assert await exit_code(proc) == DIED, f"consumer {death} should have died handling the message"
            assert proc.stdout is not None and f"handling {poison.event_id}" in proc.stdout.read().decode()

        # The fourth consumer finds two marked handlings that never ended: it dead-letters instead of dying.
        survivor = consumer(nats_url, durable, tenant)
        js = bus.broker.connection.jetstream()

        async def dead_lettered() -> Msg | None:
            assert survivor is not None and survivor.poll() is None, "the fourth consumer died too"
            return await dead_letter_of(js, durable, poison.event_id)

        letter = await eventually(dead_lettered, 60, "the poison's dead letter", every_s=0.2)
        assert letter.headers is not None
        assert "never finished 2 times" in letter.headers["Quarry-Reason"]
        assert letter.headers["Quarry-Subject"] == subjects.RUN_REQUESTED
        assert RunRequested.model_validate_json(letter.data).event_id == poison.event_id
        await drained(js, durable)  # acknowledged, not handed out again
        assert survivor.poll() is None
    finally:
        if survivor is not None:
            survivor.terminate()
            survivor.wait(timeout=10)
        await bus.stop()


async def test_a_handling_that_ends_leaves_no_mark_to_count(nats_url: str) -> None:
    bus = Bus(nats_url, f"marks-{uuid.uuid4().hex[:8]}")
    await bus.start()
    try:
        marks = InFlight(lambda: bus.broker.connection.jetstream(), bus.service)
        key = f"QUARRY.test-{uuid.uuid4().hex[:8]}.42"
        assert await marks.begin(key) == 0
        await marks.end(key)
        assert await marks.begin(key) == 0  # ended: nothing to count
        assert await marks.begin(key) == 1  # the one before never ended
        assert await marks.begin(key) == 2
        await marks.end(key)
    finally:
        await bus.stop()


async def test_a_healthy_message_redelivered_after_not_ready_is_never_dead_lettered(nats_url: str) -> None:
    """Neither its first delivery (unmarked) nor its nacked redeliveries (their marks removed)
    count as deaths, even with a single death allowed; and a first delivery writes no mark."""
    service, tenant = f"healthy-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    bus = Bus(nats_url, service, max_deaths=1)
    attempts: list[str] = []
    done: list[str] = []

    async def handle(ev: RunRequested) -> None:
        attempts.append(ev.event_id)
        if ev.tenant_id != tenant:
            return
        if len([e for e in attempts if e == ev.event_id]) < 4:
            raise NotReady("dependency not there yet", delay_s=0.05)
        done.append(ev.event_id)

    def question(text: str, tenant_id: str) -> RunRequested:
        payload = RunRequestedPayload(question=text, depth=1, max_sources=3)
        return RunRequested.create(payload, tenant_id=tenant_id, run_id=str(uuid.uuid4()))

    async def settled() -> None:
        deadline = time.monotonic() + 30
        info = await js.consumer_info(subjects.STREAM, service)
        while info.num_ack_pending or info.num_pending:
            assert time.monotonic() < deadline, "messages left unacknowledged"
            await asyncio.sleep(0.05)
            info = await js.consumer_info(subjects.STREAM, service)

    bus.subscribe(Subscription(subjects.RUN_REQUESTED, service, handle))
    await bus.start()
    try:
        js = bus.broker.connection.jetstream()
        ready = question("ready at last?", tenant)
        await bus.publish(ready)
        await settled()
        assert done == [ready.event_id] and attempts.count(ready.event_id) == 4
        assert await dead_letter_of(js, service, ready.event_id) is None
        # Its redeliveries were marked, and each mark removed once its handling ended.
        kv = await js.key_value(bucket_of(service))
        deadline = time.monotonic() + 10
        while True:
            try:
                left = await kv.keys()
            except NoKeysError:
                break
            assert time.monotonic() < deadline, f"marks not removed: {left}"
            await asyncio.sleep(0.05)
        written = (await kv.status()).stream_info.state.last_seq
        assert written > 0

        healthy = question("fine at once", uuid.uuid4().hex)
        await bus.publish(healthy)
        await settled()
        assert healthy.event_id in attempts
        assert (await kv.status()).stream_info.state.last_seq == written, "a first delivery writes no mark"
    finally:
        await bus.stop()


async def test_a_removal_that_times_out_while_the_loop_is_held_counts_no_death(
    nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A database outage holds a service's event loop for seconds: the removal of a mark then
    times out although the handling ended (and the mark may stay). That is neither an error of
    the handling nor a process that died: otherwise two outages would dead-letter a healthy message."""
    bus = Bus(nats_url, f"marks-{uuid.uuid4().hex[:8]}")
    await bus.start()
    try:
        # A short request timeout, so holding the loop a little longer makes the removal time out.
        now = [0.0]
        marks = InFlight(lambda: bus.broker.connection.jetstream(timeout=0.3), bus.service, clock=lambda: now[0])
        key = f"QUARRY.test-{uuid.uuid4().hex[:8]}.7"
        assert await marks.begin(key) == 0
        ending = asyncio.create_task(marks.end(key))
        await asyncio.sleep(0)  # the delete is on its way ...
        time.sleep(0.6)  # noqa: ASYNC251 - the loop held past the timeout, as a blocking store call does
        with caplog.at_level("WARNING", logger="quarry_runtime.inflight"):
            await ending  # raises nothing into the bus
        assert f"in-flight mark removal of {key} failed" in caplog.text
        assert await marks.begin(key) is None, "unmarked for a while after a failure"
        now[0] += RETRY_AFTER_FAILURE_S + 1

        assert await marks.begin(key) == 0, "the handling that timed out ended: no death"
        assert await marks.begin(key) == 1, "a handling that never ended still counts"
        await marks.end(key)
    finally:
        await bus.stop()
