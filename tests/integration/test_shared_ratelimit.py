"""The shared rate limiter on a real JetStream: replicas count in one window."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client

from quarry_runtime.kv import KeyValueBucket
from quarry_runtime.ratelimit import KeyValueWindows, SlidingWindowLimiter

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
    return SlidingWindowLimiter(KeyValueWindows(KeyValueBucket(nc.jetstream, bucket, ttl_s=3600)))


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
