"""The shared rate limiter on a real JetStream: replicas count in one window (policy's tool limits
and the gateway's auth limits use it)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import nats
import pytest
from nats.aio.client import Client

from quarry_runtime.buckets import Buckets
from quarry_security.ratelimit import KeyValueWindows, SlidingWindowLimiter
from services.gateway.bootstrap import build as build_gateway
from services.gateway.settings import GatewaySettings

pytestmark = pytest.mark.infra


@pytest.fixture
async def connections(nats_url: str) -> AsyncIterator[tuple[Client, Client]]:
    """Two connections, as two replicas would each have their own."""
    first, second = await nats.connect(nats_url), await nats.connect(nats_url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def replica(nc: Client, bucket: str) -> SlidingWindowLimiter:
    return SlidingWindowLimiter(KeyValueWindows(Buckets(nc.jetstream, replicas=1).key_value(bucket, ttl_s=3600)))


async def test_two_replicas_together_allow_exactly_the_limit(connections: tuple[Client, Client]) -> None:
    bucket = f"test_limits_{uuid.uuid4().hex[:8]}"
    first, second = (replica(nc, bucket) for nc in connections)
    limit = 25

    # Both replicas at once, many more calls than the limit: every allowed call was counted by
    # the one window, whichever replica took it.
    outcomes = await asyncio.gather(*(r.hit("tenant.tool", limit, 60) for _ in range(40) for r in (first, second)))

    allowed = [o for o in outcomes if o is None]
    assert len(allowed) == limit
    assert all(o is not None and 0 < o <= 60 for o in outcomes if o is not None)
    assert await first.used("tenant.tool", 60) == await second.used("tenant.tool", 60) == limit
    # Another key has its own window.
    assert await second.hit("other.tool", limit, 60) is None


async def test_a_cleared_window_has_room_again_on_every_replica(connections: tuple[Client, Client]) -> None:
    bucket = f"test_limits_{uuid.uuid4().hex[:8]}"
    first, second = (replica(nc, bucket) for nc in connections)
    for _ in range(3):
        assert await first.hit("account", 3, 900) is None
    assert await second.hit("account", 3, 900) is not None

    await second.clear("account")

    assert await first.hit("account", 3, 900) is None


@pytest.fixture
async def two_gateways(nats_url: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two gateway replicas on one bus (their stores apart: the limits need nothing of them)."""
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for name in ("a", "b"):
            settings = GatewaySettings(data_dir=tmp_path / name, nats_url=nats_url)
            app = build_gateway(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=15)
                )
            )
        yield clients[0], clients[1]


async def test_an_account_locked_through_one_gateway_replica_is_locked_on_the_other(
    two_gateways: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    a, b = two_gateways
    email = f"target-{uuid.uuid4().hex[:8]}@example.com"
    wrong = {"email": email, "password": "a-guess-at-it-1"}

    # Five wrong passwords in all, alternating replicas: each saw fewer than the limit.
    for replica in (a, b, a, b, a):
        assert (await replica.post("/v1/auth/login", json=wrong)).status_code == 401

    for replica in (a, b):
        locked = await replica.post("/v1/auth/login", json=wrong)
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
