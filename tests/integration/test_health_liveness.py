"""Liveness on a real NATS: a consumer whose handler never acks fails /livez after the threshold."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from contracts import subjects
from contracts.run import RunRequested, RunRequestedPayload
from devtools import natsserver
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.service import Service, run
from quarry_runtime.settings import RuntimeSettings

pytestmark = pytest.mark.infra


async def test_a_consumer_that_never_acks_fails_liveness_after_its_ack_waits(nats_url: str) -> None:
    tenant = uuid.uuid4().hex
    taken = asyncio.Event()
    release = asyncio.Event()

    async def handler(ev: RunRequested) -> None:
        if ev.tenant_id == tenant:
            taken.set()
            await release.wait()  # wedged: never returns (until the test ends), so never acks

    name = f"test-{uuid.uuid4().hex[:8]}"
    port = natsserver.free_port()
    settings = RuntimeSettings(nats_url=nats_url, health_port=port, ack_wait_s=1.0, health_stall_ack_waits=3)
    bus = Bus(nats_url, name, ack_wait_s=1.0)
    bus.subscribe(Subscription(subjects.RUN_REQUESTED, name, handler))
    stop = asyncio.Event()
    service = asyncio.create_task(run(Service(name, bus), settings, stop))
    url = f"http://127.0.0.1:{port}"

    async def get(path: str) -> httpx.Response:
        return await asyncio.to_thread(httpx.get, f"{url}{path}", timeout=2)

    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if (await get("/readyz")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the service never became ready"
            await asyncio.sleep(0.1)
        await bus.publish(
            RunRequested.create(
                RunRequestedPayload(question="wedge me", depth=1, max_sources=3), tenant_id=tenant, run_id=tenant
            )
        )
        await asyncio.wait_for(taken.wait(), timeout=10)
        started = time.monotonic()
        assert (await get("/livez")).status_code == 200  # one ack wait is no reason to restart
        while (response := await get("/livez")).status_code == 200:
            assert time.monotonic() - started < 8, "liveness never failed"
            await asyncio.sleep(0.2)
        assert time.monotonic() - started >= 2.5  # not before three ack waits
        body = response.json()
        assert response.status_code == 503 and body["status"] == "not live"
        assert [r.split(" for ")[0] for r in body["reasons"]] == [f"consumer {name}: messages waiting without an ack"]
        assert (await get("/readyz")).status_code == 200
    finally:
        release.set()
        stop.set()
        await asyncio.wait_for(service, timeout=15)
