"""One way to create a stream (`quarry_runtime.streams.ensure_stream`), on a real JetStream: a
stream that exists with another configuration is brought up to date in what Quarry decides, or,
asked to keep it, used as an operator left it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import DiscardPolicy, StorageType, StreamConfig

from quarry_runtime.streams import ensure_stream

MIB = 1 << 20


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
async def name(nc: Client) -> AsyncIterator[str]:
    made = f"quarry_test_{uuid.uuid4().hex[:12]}"
    yield made
    await nc.jetstream().delete_stream(made)


def _config(name: str, max_bytes: int) -> StreamConfig:
    return StreamConfig(
        name=name,
        subjects=[f"{name}.>"],
        storage=StorageType.FILE,
        max_bytes=max_bytes,
        discard=DiscardPolicy.OLD,
    )


async def test_a_missing_stream_is_created_as_configured(nc: Client, name: str) -> None:
    await ensure_stream(nc.jetstream(), _config(name, 4 * MIB))
    assert (await nc.jetstream().stream_info(name)).config.max_bytes == 4 * MIB


async def test_a_stream_configured_otherwise_is_brought_up_to_date(nc: Client, name: str) -> None:
    js = nc.jetstream()
    await js.add_stream(_config(name, 2 * MIB))
    await ensure_stream(js, _config(name, 4 * MIB))
    assert (await js.stream_info(name)).config.max_bytes == 4 * MIB


async def test_a_stream_kept_as_it_is_keeps_the_operators_size(nc: Client, name: str) -> None:
    js = nc.jetstream()
    await js.add_stream(_config(name, 2 * MIB))
    await ensure_stream(js, _config(name, 4 * MIB), keep_existing=True)
    assert (await js.stream_info(name)).config.max_bytes == 2 * MIB
