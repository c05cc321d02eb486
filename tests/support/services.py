"""A service of the platform running inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from quarry_runtime.service import Service
from tests.support.polling import eventually


@contextlib.asynccontextmanager
async def in_process(service: Service, answers: str | None = None) -> AsyncIterator[Service]:
    """`service` as `run` drives it (bus, consumers, background jobs), without signal handlers or
    a health server; with `answers`, entered only once it replies to requests on that subject."""
    await service.bus.start()
    jobs = [asyncio.create_task(job()) for job in service.background]
    try:
        if answers is not None:
            nc = service.bus.broker.connection

            async def answering() -> bool:
                try:
                    await nc.request(answers, b"{}", timeout=0.5)
                except Exception:  # noqa: BLE001 - not subscribed yet
                    return False
                return True

            await eventually(answering, 10, f"{service.name} to answer on {answers}")
        yield service
    finally:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        await service.bus.stop()
        for close in service.on_stop:
            close()
