"""A service of the platform running inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from contracts import subjects
from quarry_runtime.service import Service
from services.billing.bootstrap import BillingSettings
from services.billing.bootstrap import build as build_billing
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


def billing_service(settings: BillingSettings) -> contextlib.AbstractAsyncContextManager[Service]:
    """The billing service in process, entered once it answers ledger queries."""
    return in_process(build_billing(settings), answers=subjects.BILLING_LEDGER)
