"""JetStream's volume full under the platform, then space returning.

The volume is simulated by the server's own limit (`max_file_store`): past it the server refuses
every write ("insufficient resources"), as it does for a full volume, but without the server
switching JetStream off. A handler whose publish is refused is held (redelivered with backoff,
never counted toward dead-lettering), nothing it caused is half-published, and it finishes once
space returns.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nats.aio.msg import Msg

from contracts import subjects
from contracts.envelope import Actor
from contracts.monitor import MonitorCreated, MonitorCreatedPayload, MonitorFired, MonitorScheduled, Schedule
from contracts.registry import parse_event
from contracts.run import RunAdmitted, RunAdmittedPayload, RunRequested
from contracts.timer import TimerFired, TimerFiredPayload
from devtools import natsserver
from devtools.client import QuarryClient
from devtools.stack import StackConfig
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.errors import Unavailable
from quarry_runtime.settings import MiB
from quarry_runtime.timersweep import TimerSweep
from services.gateway.settings import GatewaySettings
from services.orchestrator.bootstrap import OrchestratorSettings
from tests.integration.full_disk import (
    HELD_S,
    MONITOR_INTERVAL_S,
    QUESTIONS,
    RECOVERY_S,
    STACK_HELD_S,
    STACK_LIMITS,
    STACK_STORE_LIMIT,
    STORE_LIMIT,
    SWEEP_GRACE_S,
    fill,
    free_space,
    has_pending,
    has_pending_timer,
    jetstream_with_limit,
    messages_in,
    pending_timers,
    reload,
    request,
    small_gateway,
    takes_writes,
)
from tests.integration.test_eventstore_reconnect import orchestrator_service
from tests.support.jetstream import drained, service_drained
from tests.support.polling import eventually
from tests.support.stack import TERMINAL, ask, running, until_settled, views_of

pytestmark = pytest.mark.infra


async def test_a_handler_whose_publish_jetstream_refuses_is_held_and_finishes_when_space_returns(
    full_disk_bus: tuple[subprocess.Popen[bytes], str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    _, url, _ = full_disk_bus
    tenant = uuid.uuid4().hex
    # Two deliveries before a failing message is dead-lettered: the outage, counted, would
    # dead-letter every held message within a second or two.
    bus = Bus(url, "diskfull", max_deliver=2, stream_max_bytes=4 * MiB, deadletter_max_bytes=MiB, kv_max_bytes=MiB)
    gate = asyncio.Event()
    entered: list[str] = []
    attempts: Counter[str] = Counter()
    admitted: Counter[str] = Counter()

    async def admit(ev: RunRequested) -> None:
        entered.append(ev.event_id)
        await gate.wait()
        attempts[ev.event_id] += 1
        # One outcome per request, with an id derived from it: a retried publish is the same event.
        await bus.publish(RunAdmitted.caused_by(ev, RunAdmittedPayload(credits_reserved=1)))

    async def count(ev: RunAdmitted) -> None:
        admitted[ev.causation_id or ""] += 1

    bus.subscribe(Subscription(subjects.RUN_REQUESTED, "diskfull-admit", admit, batch=4))
    bus.subscribe(Subscription(subjects.RUN_ADMITTED, "diskfull-count", count))
    await bus.start()
    try:
        warmup = request(tenant)
        gate.set()
        await bus.publish(warmup)
        await eventually(lambda: admitted[warmup.event_id] == 1, 15, "a run admitted before the disk fills")

        gate.clear()
        held = [request(tenant) for _ in range(6)]
        for ev in held:
            await bus.publish(ev)
        await eventually(lambda: bool(entered[1:]), 15, "the handler to take a message")
        assert await fill(url) > 0

        # A publish of the service's own now fails as an outage, saying why.
        with pytest.raises(Unavailable, match="store is full"):
            await bus.publish(request(tenant))
        with caplog.at_level(logging.WARNING, logger="quarry_runtime"):
            gate.set()
            await eventually(
                lambda: all(attempts[ev.event_id] >= 3 for ev in held), HELD_S * 3, f"held redeliveries: {attempts}"
            )
            assert not any(admitted[ev.event_id] for ev in held), "a publish JetStream refused counted as stored"
            assert await messages_in(url, subjects.DEADLETTER_STREAM) == 0

            await free_space(url)
            await eventually(
                lambda: all(admitted[ev.event_id] for ev in held), RECOVERY_S, f"runs admitted after: {admitted}"
            )
        outage_lines = [r for r in caplog.records if "diskfull-admit: waiting for a dependency" in r.getMessage()]
        # Once per interval (30 s) for the consumer, not once per delivery.
        assert 1 <= len(outage_lines) <= 2, [r.getMessage() for r in outage_lines]
        assert "store is full" in outage_lines[0].getMessage()
        await drained(bus.broker.connection.jetstream(), "diskfull-admit", "diskfull-count")
    finally:
        await bus.stop()

    assert await messages_in(url, subjects.DEADLETTER_STREAM) == 0
    # Each held run admitted exactly once: nothing lost, nothing published twice.
    assert {e.event_id: admitted[e.event_id] for e in held} == {e.event_id: 1 for e in held}
    assert sum(attempts[e.event_id] for e in held) > len(held) * 2  # each was redelivered past max_deliver


async def test_the_gateway_answers_503_for_new_runs_while_jetstream_is_full_and_accepts_them_after(
    full_disk_bus: tuple[subprocess.Popen[bytes], str, Path], tmp_path: Path
) -> None:
    server, url, config = full_disk_bus
    settings = GatewaySettings(data_dir=tmp_path / "gateway")
    async with small_gateway(url, settings) as (http, _, auth):
        run = {"question": "what happens when the disk is full?", "depth": 1, "max_sources": 3}
        before = await http.post("/v1/runs", json=run, headers=auth)
        assert before.status_code == 202, before.text

        await fill(url)
        refused = await http.post("/v1/runs", json=run, headers=auth)
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        # Refused whole: the run is in no read model, so a client's retry is the only copy.
        listed = await http.get("/v1/runs", headers=auth)
        assert [r["run_id"] for r in listed.json()["runs"]] == [before.json()["run_id"]]

        # Space returns the way an operator gives a full volume more: the limit raised, reloaded.
        config.write_text(config.read_text().replace(str(STORE_LIMIT), str(4 * STORE_LIMIT)))
        reload(server)
        deadline = time.monotonic() + RECOVERY_S
        while (after := await http.post("/v1/runs", json=run, headers=auth)).status_code == 503:
            assert time.monotonic() < deadline, "still 503 after space returned"
            await asyncio.sleep(0.2)
        assert after.status_code == 202, after.text
        listed = await http.get("/v1/runs", headers=auth)
        assert len(listed.json()["runs"]) == 2


async def test_a_durable_timer_due_while_jetstream_is_full_fires_once_space_returns(
    full_disk_bus: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    """nats-server 2.15.1 never fires a schedule that came due while its store was full (until it
    restarts); the orchestrator's sweep (quarry_runtime.timersweep) re-arms it once writes pass."""
    _, url, _ = full_disk_bus
    bus = Bus(url, "timers", stream_max_bytes=4 * MiB, deadletter_max_bytes=MiB, kv_max_bytes=MiB)
    fired: list[str] = []

    async def on_fired(ev: TimerFired) -> None:
        fired.append(ev.event_id)

    def timer(purpose: str) -> TimerFired:
        payload = TimerFiredPayload(timer_id=uuid.uuid4().hex, purpose=purpose, task_id="t-1", attempt=1)
        return TimerFired.create(payload, tenant_id=uuid.uuid4().hex)

    bus.subscribe(Subscription(subjects.TIMER_FIRED, "timers-fired", on_fired))
    await bus.start()
    # The sweep's clock runs ahead of the server's by `ahead`: past a grace without waiting it out.
    ahead = [timedelta(0)]
    sweep = TimerSweep(bus, grace_s=SWEEP_GRACE_S, clock=lambda: datetime.now(UTC) + ahead[0])

    async def rearmed() -> int:
        try:
            return await sweep.sweep()
        except Unavailable:  # the volume is not writable yet
            return 0

    try:
        held, later = timer("task_timeout"), timer("task_retry")
        await bus.schedule(held, datetime.now(UTC) + timedelta(seconds=2))
        await bus.schedule(later, datetime.now(UTC) + timedelta(minutes=10))
        await fill(url)
        await asyncio.sleep(4)  # it comes due while nothing can be written
        ahead[0] = timedelta(seconds=SWEEP_GRACE_S + 1)
        with pytest.raises(Unavailable):  # past its grace and still held: the re-arm is refused as well
            await sweep.sweep()
        assert subjects.timer_schedule(held.event_id) in await pending_timers(url), "no longer held: fired?"
        assert held.event_id not in fired

        await free_space(url)
        assert await eventually(rearmed, RECOVERY_S, "the sweep to re-arm the held timer") == 1
        ahead[0] = timedelta(0)  # the re-armed timer gets a grace of its own
        await eventually(lambda: held.event_id in fired, RECOVERY_S, "the timer due during the outage to fire")
        # Fired, it has left the stream (nothing more to re-arm); a timer not yet due is left alone.
        only_later = {subjects.timer_schedule(later.event_id): 1}
        await eventually(lambda: has_pending(url, only_later), RECOVERY_S, "the fired timer to leave the stream")
        ahead[0] = timedelta(seconds=2 * SWEEP_GRACE_S)
        assert await sweep.sweep() == 0
        sentinel = timer("tool_retry")
        await bus.publish(sentinel)  # delivered after any second firing of the held timer
        await eventually(lambda: sentinel.event_id in fired, RECOVERY_S, "the sentinel")
        assert later.event_id not in fired
        assert fired.count(held.event_id) == 1, fired
        assert await messages_in(url, subjects.DEADLETTER_STREAM) == 0
    finally:
        await bus.stop()


async def test_a_monitor_slot_due_while_jetstream_is_full_fires_from_the_orchestrator_once_space_returns(
    full_disk_bus: tuple[subprocess.Popen[bytes], str, Path], tmp_path: Path
) -> None:
    """The orchestrator as it runs (bootstrap: consumers, outbox relay, timer sweep) schedules a
    monitor's first slot; the slot comes due while JetStream is full, and the monitor fires it
    after space returns, once, with no restart of the server."""
    _, url, _ = full_disk_bus
    settings = OrchestratorSettings(
        data_dir=tmp_path / "orchestrator",
        stream_max_bytes=4 * MiB,
        deadletter_max_bytes=MiB,
        kv_max_bytes=MiB,
        timer_rearm_grace_s=SWEEP_GRACE_S,
        timer_sweep_interval_s=0.5,
    ).model_copy(update={"nats_url": url})
    payload = MonitorCreatedPayload(
        monitor_id=uuid.uuid4().hex,
        question="what filled the disk today?",
        depth=1,
        max_sources=3,
        schedule=Schedule(interval_s=MONITOR_INTERVAL_S),
    )
    created = MonitorCreated.create(payload, tenant_id=uuid.uuid4().hex, actor=Actor(user_id="u1", roles=["owner"]))
    fired: list[MonitorFired] = []
    async with orchestrator_service(settings):
        watcher = Bus(url, "test")
        await watcher.broker.connect()
        nc = watcher.broker.connection

        async def on_fired(msg: Msg) -> None:
            event = parse_event(msg.data)
            if isinstance(event, MonitorFired) and event.payload.monitor_id == payload.monitor_id:
                fired.append(event)

        await nc.subscribe(subjects.MONITOR_FIRED, cb=on_fired)
        try:
            assert await watcher.publish(created)
            await eventually(lambda: has_pending_timer(url), RECOVERY_S, "the monitor's first slot to be scheduled")
            await fill(url)
            assert not fired, "the slot fired before the volume was full: make MONITOR_INTERVAL_S longer"
            # Its slot comes, and passes by more than the sweep's grace, while nothing can be written.
            await asyncio.sleep(MONITOR_INTERVAL_S + 2 * SWEEP_GRACE_S)
            assert await has_pending_timer(url), "the slot is no longer held: fired?"
            assert not fired
            await free_space(url)
            await eventually(lambda: bool(fired), RECOVERY_S * 2, "the monitor's slot due during the outage to fire")
            await sentinel_monitor(watcher)
            first_slot = fired[0].payload.slot
            assert [f.payload.slot for f in fired].count(first_slot) == 1, fired
        finally:
            await watcher.broker.stop()
    assert await messages_in(url, subjects.DEADLETTER_STREAM) == 0


async def sentinel_monitor(watcher: Bus) -> None:
    """Wait until every timer the orchestrator was handed is handled, and everything it stored
    until then is published: a monitor created now is scheduled after all of it, by the relay."""
    nc = watcher.broker.connection
    await service_drained(nc.jetstream(), "orchestrator")
    payload = MonitorCreatedPayload(
        monitor_id=uuid.uuid4().hex, question="a sentinel", depth=1, max_sources=3, schedule=Schedule(interval_s=3600)
    )
    scheduled: list[str] = []

    async def on_scheduled(msg: Msg) -> None:
        event = parse_event(msg.data)
        if isinstance(event, MonitorScheduled) and event.payload.monitor_id == payload.monitor_id:
            scheduled.append(event.event_id)

    sub = await nc.subscribe(subjects.MONITOR_SCHEDULED, cb=on_scheduled)
    try:
        actor = Actor(user_id="u1", roles=["owner"])
        assert await watcher.publish(MonitorCreated.create(payload, tenant_id=uuid.uuid4().hex, actor=actor))
        await eventually(lambda: bool(scheduled), RECOVERY_S, "the sentinel monitor to be scheduled")
    finally:
        await sub.unsubscribe()


def test_runs_are_held_while_jetstream_is_full_and_complete_when_space_returns(tmp_path: Path) -> None:
    with jetstream_with_limit(tmp_path / "nats", STACK_STORE_LIMIT) as (server, url, config):
        stack_config = StackConfig(
            data_dir=tmp_path / "stack", http_port=natsserver.free_port(), nats_url=url, extra_env=STACK_LIMITS
        )
        with running(stack_config) as stack:
            client = QuarryClient(f"http://127.0.0.1:{stack.config.http_port}")
            try:
                client.signup(f"full-{uuid.uuid4().hex[:6]}@example.com", "correct-horse-battery", "full disk")
                runs = {ask(client, question=q, depth=2): client for q in QUESTIONS}
                asyncio.run(fill(url, chunk=512 * 1024))
                in_flight = {r for r, view in views_of(runs).items() if view["state"] not in TERMINAL}
                assert in_flight, "every run ended before the volume filled: nothing was held"

                refused = client.request("POST", "/v1/runs", json={"question": "is the disk full?"})
                assert refused.status_code == 503, refused.text
                assert int(refused.headers["Retry-After"]) >= 1

                time.sleep(STACK_HELD_S)
                held = views_of({r: client for r in in_flight})
                assert all(v["state"] not in ("failed", "cancelled", "expired") for v in held.values()), held

                # Space returns the way an operator grows a volume: the limit raised, the config reloaded.
                config.write_text(config.read_text().replace(str(STACK_STORE_LIMIT), str(4 * STACK_STORE_LIMIT)))
                reload(server)
                # The server applies a reload in its own time: ask once it takes writes again.
                asyncio.run(
                    eventually(lambda: takes_writes(url), RECOVERY_S, "JetStream taking writes after the reload")
                )
                after = ask(client, question="what happens once the disk has room again?", depth=1)
                runs[after] = client
                settled = until_settled(runs, timeout_s=300)
                assert {r: v["state"] for r, v in settled.items()} == dict.fromkeys(runs, "completed"), settled
                assert all(v["cost"]["closed"] for v in settled.values()), settled
            finally:
                client.close()
            assert asyncio.run(messages_in(url, subjects.DEADLETTER_STREAM)) == 0, stack.tail("orchestrator")
