"""The Bus's own pull consumers (quarry_runtime.pulling): concurrent workers, never more than asked for."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from contracts import subjects
from contracts.run import RunRequested, RunRequestedPayload
from quarry_runtime.bus import Bus, Subscription
from tests.support.polling import eventually

pytestmark = pytest.mark.infra


def request(tenant: str) -> RunRequested:
    return RunRequested.create(
        RunRequestedPayload(question="how", depth=1, max_sources=3), tenant_id=tenant, run_id=str(uuid.uuid4())
    )


async def test_workers_take_messages_as_they_arrive_and_never_more_than_their_number(nats_url: str) -> None:
    tenant, name = uuid.uuid4().hex, f"test-{uuid.uuid4().hex[:8]}"
    in_hand, most, done = 0, 0, 0
    release = asyncio.Event()

    async def handler(ev: RunRequested) -> None:
        nonlocal in_hand, most, done
        if ev.tenant_id != tenant:
            return
        in_hand += 1
        most = max(most, in_hand)
        await release.wait()
        in_hand -= 1
        done += 1

    bus = Bus(nats_url, name)
    bus.subscribe(Subscription(subjects.RUN_REQUESTED, name, handler, batch=4, max_workers=3))
    await bus.start()
    try:
        for _ in range(8):
            await bus.publish(request(tenant))
        await eventually(lambda: in_hand == 3, 10, "three messages in hand")
        await asyncio.sleep(0.3)  # nothing more is taken while every worker is busy
        assert most == 3
        release.set()
        await eventually(lambda: done == 8, 10, "every message handled")
    finally:
        await bus.stop()
