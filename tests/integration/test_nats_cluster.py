"""A three-node JetStream cluster losing nodes under load: nothing acknowledged is lost.

Three nats-servers from the wheel on loopback (devtools.natsserver.Cluster), the event
stream and the buses' buckets on three replicas, every write fsynced before its ack. Two buses
publish steadily, as outboxes do (a publish that fails is retried with the same event id until
JetStream acknowledges it), and each runs a durable consumer of everything. The node leading the
stream is killed with SIGKILL and brought back, then the node that leads next; every event
whose publish was acknowledged reaches both consumers, and the stream holds each exactly once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from contracts import subjects
from contracts.run import RunRequested, RunRequestedPayload
from devtools import natsserver
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.inflight import bucket_of as inflight_bucket
from quarry_security import natsauth

pytestmark = pytest.mark.infra

REPLICAS = 3
PUBLISH_INTERVAL_S = 0.02  # per publisher: about 50 events a second each, less on a loaded machine
DOWN_S = 6.0  # how long a killed node stays away, under load
PUBLISH_GIVE_UP_S = 60.0  # one event not acknowledged in this long: the cluster did not heal
DRAIN_S = 90.0


@dataclass
class Cluster:
    nodes: natsserver.Cluster
    url: str  # every node, as a user without limits


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    passwords = natsauth.StackCredentials(tmp_path / "credentials").ensure()
    admin = ("quarry-test", passwords.pop(natsauth.OPERATOR))
    authorization = natsauth.write_server_config(tmp_path / "authorization.conf", passwords, admin=admin)
    nodes = natsserver.Cluster(tmp_path / "cluster", size=REPLICAS, authorization=authorization, log_dir=tmp_path)
    try:
        nodes.start()
    except (FileNotFoundError, TimeoutError, RuntimeError) as exc:
        nodes.stop()
        pytest.fail(f"a three-node NATS cluster did not start: {exc} (logs in {tmp_path})")
    yield Cluster(nodes, natsserver.with_user(nodes.url, *admin))
    nodes.stop()


@dataclass
class Load:
    """What the publishers had acknowledged and the consumers received."""

    acked: list[str] = field(default_factory=list)
    received: dict[str, list[str]] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    slowest_s: float = 0.0  # the longest one event took to be acknowledged, retries included


def request() -> RunRequested:
    return RunRequested.create(
        RunRequestedPayload(question="what survives a lost node?", depth=1, max_sources=3),
        tenant_id="cluster-tenant",
        run_id=str(uuid.uuid4()),
    )


async def publish_steadily(bus: Bus, load: Load, stop: asyncio.Event) -> None:
    while not stop.is_set():
        event, started = request(), time.monotonic()
        while True:
            try:
                await bus.publish(event)
                break
            except Exception as exc:  # noqa: BLE001 - no leader, a lost connection, a timed-out ack
                load.failures[type(exc).__name__] += 1
                assert time.monotonic() - started < PUBLISH_GIVE_UP_S, f"no ack for {PUBLISH_GIVE_UP_S}s: {exc!r}"
                await asyncio.sleep(0.2)
        load.acked.append(event.event_id)
        load.slowest_s = max(load.slowest_s, time.monotonic() - started)
        await asyncio.sleep(PUBLISH_INTERVAL_S)


async def leader_of(js: JetStreamContext, stream: str) -> str:
    """The server leading `stream` now, waiting out an election."""
    deadline = time.monotonic() + 60
    while True:
        try:
            info = await js.stream_info(stream)
            if info.cluster is not None and info.cluster.leader:
                return info.cluster.leader
        except Exception:  # noqa: BLE001 - no leader yet, or this connection is moving to another node
            pass
        assert time.monotonic() < deadline, f"{stream} has had no leader for 60s"
        await asyncio.sleep(0.2)


async def until_caught_up(js: JetStreamContext, stream: str, messages: int) -> None:
    """Until the stream holds `messages` and every replica is current with its leader."""
    deadline = time.monotonic() + 60
    state = "unknown"
    while time.monotonic() < deadline:
        try:
            info = await js.stream_info(stream)
        except Exception as exc:  # noqa: BLE001 - between leaders
            state = repr(exc)
        else:
            replicas = info.cluster.replicas if info.cluster and info.cluster.replicas else []
            state = f"{info.state.messages} messages, replicas {[(r.name, r.current, r.lag) for r in replicas]}"
            if (
                info.state.messages == messages
                and len(replicas) == REPLICAS - 1
                and all(r.current and not r.lag for r in replicas)
            ):
                return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{stream} not caught up on every replica: {state}; expected {messages} messages")


async def test_no_acknowledged_event_is_lost_when_stream_leaders_are_killed(cluster: Cluster) -> None:
    load = Load()
    buses = [Bus(cluster.url, service, stream_replicas=REPLICAS) for service in ("orchestrator", "gateway")]
    for bus in buses:
        durable = f"cluster-{bus.service}"
        received = load.received.setdefault(durable, [])

        async def handle(event: RunRequested, received: list[str] = received) -> None:
            received.append(event.event_id)

        bus.subscribe(Subscription(subjects.RUN_REQUESTED, durable, handle))
        await bus.start()
    js = buses[0].broker.connection.jetstream()
    stream = await js.stream_info(subjects.STREAM)
    assert stream.config.num_replicas == REPLICAS
    # The buses' own bucket of in-flight marks, opened when a bus with consumers starts, is replicated too.
    first = request()
    await buses[0].publish(first)
    load.acked.append(first.event_id)
    inflight = f"KV_{inflight_bucket('orchestrator')}"
    deadline = time.monotonic() + 30
    while (marks := await js.streams_info()) and inflight not in {m.config.name for m in marks}:
        assert time.monotonic() < deadline, f"no {inflight} bucket after a delivery"
        await asyncio.sleep(0.2)
    assert (await js.stream_info(inflight)).config.num_replicas == REPLICAS

    stop = asyncio.Event()
    publishers = [asyncio.create_task(publish_steadily(bus, load, stop)) for bus in buses]
    killed: list[tuple[str, int]] = []  # (node, events acknowledged before it was killed)
    try:
        await asyncio.sleep(3.0)
        for _ in range(2):
            leader = await leader_of(js, subjects.STREAM)
            killed.append((leader, len(load.acked)))
            cluster.nodes.kill(leader)
            await asyncio.sleep(DOWN_S)
            await asyncio.to_thread(cluster.nodes.restart, leader)
            await asyncio.sleep(2.0)
        await asyncio.sleep(3.0)
    finally:
        stop.set()
        await asyncio.gather(*publishers)

    try:
        first_killed, second_killed = (name for name, _ in killed)
        assert first_killed != second_killed, f"the second kill should hit the next leader, not {first_killed} again"
        acked = set(load.acked)
        assert len(acked) == len(load.acked)
        # Published while a leader was away too, not only before and after.
        assert load.acked and killed[-1][1] > killed[0][1] > 0, killed
        deadline = time.monotonic() + DRAIN_S
        while any(not acked <= set(got) for got in load.received.values()):
            assert time.monotonic() < deadline, {d: len(acked - set(got)) for d, got in load.received.items()}
            await asyncio.sleep(0.2)
        for durable, got in load.received.items():
            assert set(got) == acked, (durable, len(set(got) - acked))
        # The stream holds each event once: retried publishes were de-duplicated by their id,
        # across leaders, and every replica has every message.
        await until_caught_up(js, subjects.STREAM, len(acked))
        print(
            f"cluster: {len(acked)} events acknowledged, killed {killed}; publish failures {dict(load.failures)};"
            f" slowest ack {load.slowest_s:.1f}s; redelivered"
            f" {[len(got) - len(set(got)) for got in load.received.values()]}"
        )
    finally:
        for bus in buses:
            await bus.stop()
