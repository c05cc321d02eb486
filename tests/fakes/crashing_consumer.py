"""A consumer process that dies (os._exit) on the one event it is told about, as an OOM-killed
or crashed service would: `python -m tests.fakes.crashing_consumer NATS_URL DURABLE TENANT`."""

from __future__ import annotations

import asyncio
import os
import sys

from contracts import subjects
from contracts.run import RunRequested
from quarry_runtime.bus import Bus, Subscription

DIED = 3


async def main(url: str, durable: str, tenant: str) -> None:
    bus = Bus(url, durable, ack_wait_s=1.0, max_deliver=10)

    async def handle(ev: RunRequested) -> None:
        if ev.tenant_id == tenant:
            print(f"handling {ev.event_id}", flush=True)
            os._exit(DIED)

    bus.subscribe(Subscription(subjects.RUN_REQUESTED, durable, handle))
    await bus.start()
    print("consuming", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
