"""The lifecycle every worker service shares: connect, consume, relay, probe, stop on SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from quarry_runtime.buckets import Buckets
from quarry_runtime.bus import Bus
from quarry_runtime.cancelling import cancel_and_wait
from quarry_runtime.health import Check, CheckRunner, Health, HealthServer, LoopWatch
from quarry_runtime.heartbeat import Heartbeat, heartbeat_bucket, unknown_health, verdict_of
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.spans import QUARRY_VERSION
from quarry_runtime.telemetry import configure

log = logging.getLogger(__name__)


@dataclass
class Service:
    """What a composition root hands to `run`: the bus and what runs beside the consumers."""

    name: str
    bus: Bus
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    # Dependency checks (the store): readiness fails at once, liveness past the grace period.
    checks: dict[str, Check] = field(default_factory=dict)
    # Judged by readiness only: not having it yet (a corpus being indexed) is no reason to restart.
    readiness: dict[str, Check] = field(default_factory=dict)
    on_stop: list[Callable[[], None]] = field(default_factory=list)


async def run(service: Service, settings: RuntimeSettings, stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `stop` is set), then shut down cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass

    health = (
        HealthServer(probe(service, settings), settings.health_port, settings.health_host)
        if settings.health_port
        else None
    )
    heartbeat = heartbeat_of(service, settings, health)
    await service.bus.start()
    if health:
        await health.start()
    jobs = [*service.background, *([heartbeat.run] if heartbeat else [])]
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(job(), name=f"{service.name}-bg") for job in jobs]
    log.info("%s started", service.name)
    try:
        await stop.wait()
    finally:
        await cancel_and_wait(tasks)
        if heartbeat:
            await heartbeat.farewell()
        if health:
            await health.stop()
        await service.bus.stop()
        for close in service.on_stop:
            close()
        log.info("%s stopped", service.name)


def heartbeat_of(service: Service, settings: RuntimeSettings, health: HealthServer | None) -> Heartbeat | None:
    """The instance's heartbeat (quarry_runtime.heartbeat), with the health its probes judge."""
    if not settings.heartbeat_interval_s:
        return None
    bus = service.bus
    return Heartbeat(
        service.name,
        heartbeat_bucket(Buckets.from_settings(lambda: bus.broker.connection.jetstream(), settings)),
        interval_s=settings.heartbeat_interval_s,
        version=QUARRY_VERSION,
        verdict=verdict_of(health.health) if health else unknown_health,
    )


def probe(service: Service, settings: RuntimeSettings) -> Health:
    """What the service's /livez and /readyz judge: the loop, the bus, its checks, its consumers."""

    async def bus_connected() -> bool:
        return bool(service.bus.broker.connection.is_connected)

    return Health(
        service=service.name,
        loop=LoopWatch(),
        checks=CheckRunner({"bus": bus_connected, **service.checks, **service.readiness}),
        readiness_only=frozenset(service.readiness),
        consumers=service.bus.progress,
        loop_block_s=settings.health_loop_block_s,
        check_grace_s=settings.health_check_grace_s,
        stall_s=settings.ack_wait_s * settings.health_stall_ack_waits,
    )


def main(build: Callable[[RuntimeSettings], Service], settings: RuntimeSettings) -> None:
    """Entry point body of `python -m services.<name>`."""
    name = build.__module__.split(".")[1] if "." in build.__module__ else "quarry"
    configure(name, settings.log_level, settings.log_format, settings.environment)

    async def go() -> None:
        service = build(settings)
        freeze_startup_heap()
        await run(service, settings)

    asyncio.run(go())


# Net allocations of tracked objects between two collections of the youngest generation (CPython: 700).
YOUNG_COLLECTION_THRESHOLD = 10_000


def freeze_startup_heap() -> None:
    """Put what is alive once the process is set up out of the collector's reach.

    That is most of the heap (modules, schemas, pydantic's and FastAPI's compiled validators), and
    it lives as long as the process; a full collection walks all of it, tens of milliseconds each
    time, again and again under load. Frozen, a full collection walks only what messages and
    requests allocated since. Collected first, so no start-up garbage is kept for good.

    The youngest generation is then collected after `YOUNG_COLLECTION_THRESHOLD` net allocations
    rather than CPython's 700 (one collection every few run admissions at the gateway): under load
    most of what a young collection finds is the state of the requests and messages in flight,
    still alive, so each one walked it and promoted it, and the older generations' collections
    walked it again."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)
