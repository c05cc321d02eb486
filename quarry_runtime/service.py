"""The lifecycle every worker service shares: connect, consume, relay, probe, stop on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from quarry_runtime.bus import Bus
from quarry_runtime.health import Check, HealthServer
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.telemetry import configure

log = logging.getLogger(__name__)


@dataclass
class Service:
    """What a composition root hands to `run`: the bus and what runs beside the consumers."""

    name: str
    bus: Bus
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    checks: dict[str, Check] = field(default_factory=dict)
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

    async def bus_connected() -> bool:
        return bool(service.bus.broker.connection.is_connected)

    checks = {"bus": bus_connected, **service.checks}
    health = (
        HealthServer(service.name, settings.health_port, checks, settings.health_host) if settings.health_port else None
    )
    await service.bus.start()
    if health:
        await health.start()
    tasks: list[asyncio.Task[None]] = [
        asyncio.create_task(job(), name=f"{service.name}-bg") for job in service.background
    ]
    log.info("%s started", service.name)
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if health:
            await health.stop()
        await service.bus.stop()
        for close in service.on_stop:
            close()
        log.info("%s stopped", service.name)


def main(build: Callable[[RuntimeSettings], Service], settings: RuntimeSettings) -> None:
    """Entry point body of `python -m services.<name>`."""
    configure(build.__module__.split(".")[1] if "." in build.__module__ else "quarry", settings.log_level)

    async def go() -> None:
        await run(build(settings), settings)

    asyncio.run(go())
