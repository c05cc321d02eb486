"""Byte limits on every stream and bucket the platform creates, on a real nats-server.

Each test runs its own server: the limits of the shared streams are what is under test.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import DiscardPolicy, KeyValueConfig, StorageType, StreamConfig

from contracts import subjects
from contracts.document import UPLOADS_BUCKET
from devtools import natsserver
from devtools.streams import configure
from quarry_runtime.blobs import BlobStore
from quarry_runtime.buckets import Buckets
from quarry_runtime.bus import Bus
from quarry_runtime.settings import MiB, RuntimeSettings
from quarry_runtime.worker import JOURNAL_BUCKET, JOURNAL_TTL_S, KvJournal, WorkResult
from quarry_security.delegation import KEY_BUCKET, KeyDirectory, SigningKey

pytestmark = pytest.mark.infra


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[str]:
    proc, url = natsserver.start(tmp_path / "nats")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
async def nc(server: str) -> AsyncIterator[Client]:
    client = await nats.connect(server)
    yield client
    await client.close()


async def max_bytes_of(nc: Client, stream: str) -> int | None:
    return (await nc.jetstream().stream_info(stream)).config.max_bytes


async def test_the_streams_are_created_with_limits_and_an_existing_one_gets_them(server: str, nc: Client) -> None:
    js = nc.jetstream()
    # A stream made before there were limits: the next service to start bounds it.
    await js.add_stream(
        StreamConfig(name=subjects.STREAM, subjects=list(subjects.STREAM_SUBJECTS), storage=StorageType.FILE)
    )
    assert (await max_bytes_of(nc, subjects.STREAM)) in (None, -1)
    settings = RuntimeSettings(stream_max_bytes=64 * MiB, deadletter_max_bytes=8 * MiB).model_copy(
        update={"nats_url": server}
    )
    bus = Bus.from_settings(settings, "limits")
    await bus.start()
    try:
        events = (await js.stream_info(subjects.STREAM)).config
        assert events.max_bytes == 64 * MiB
        assert events.discard == DiscardPolicy.OLD
        assert events.num_replicas == 1
        assert (await max_bytes_of(nc, subjects.DEADLETTER_STREAM)) == 8 * MiB
    finally:
        await bus.stop()


async def test_every_bucket_is_created_with_a_limit(server: str, nc: Client, tmp_path: Path) -> None:
    js = nc.jetstream()
    bus = Bus(server, "limits", kv_max_bytes=3 * MiB)
    await bus.start()
    try:
        await KvJournal(bus).put("task-1", WorkResult(output={"ok": True}))
        journal = (await js.stream_info(f"KV_{JOURNAL_BUCKET}")).config
        assert journal.max_bytes == 3 * MiB and journal.max_age == JOURNAL_TTL_S

        await KeyDirectory(lambda: bus.broker.connection, replicas=1, max_bytes=2 * MiB).publish(
            SigningKey.load_or_create(tmp_path / "signing.pem")
        )
        assert (await max_bytes_of(nc, f"KV_{KEY_BUCKET}")) == 2 * MiB

        uploads = BlobStore(lambda: bus.broker.connection.jetstream(), UPLOADS_BUCKET, replicas=1, max_bytes=1 * MiB)
        await uploads.put("t/small", b"x" * 1000)
        assert (await max_bytes_of(nc, f"OBJ_{UPLOADS_BUCKET}")) == 1 * MiB
        # Past the limit a put fails: the store refuses instead of growing.
        with pytest.raises(nats.js.errors.APIError, match=r"(?i)maximum bytes"):
            await uploads.put("t/large", b"y" * (2 * MiB))
    finally:
        await bus.stop()


async def test_an_existing_bucket_without_a_limit_gets_one_and_a_chosen_limit_stays(nc: Client) -> None:
    js = nc.jetstream()
    await js.create_key_value(KeyValueConfig(bucket="unbounded", history=5, storage=StorageType.FILE))
    await js.create_key_value(KeyValueConfig(bucket="operator_set", history=5, max_bytes=7 * MiB))
    for bucket in ("unbounded", "operator_set"):
        kv = await Buckets(lambda: js, replicas=1).key_value(bucket, max_bytes=4 * MiB).open()
        await kv.put("k", b"v")
    assert (await max_bytes_of(nc, "KV_unbounded")) == 4 * MiB
    assert (await max_bytes_of(nc, "KV_operator_set")) == 7 * MiB

    await js.create_object_store("old_uploads")
    await BlobStore(lambda: js, "old_uploads", replicas=1, max_bytes=5 * MiB).put("a", b"a")
    assert (await max_bytes_of(nc, "OBJ_old_uploads")) == 5 * MiB


async def test_an_operator_brings_existing_streams_and_buckets_to_the_configured_limits(
    server: str, nc: Client
) -> None:
    js = nc.jetstream()
    await js.create_key_value(KeyValueConfig(bucket=JOURNAL_BUCKET, history=1, max_bytes=7 * MiB))
    await js.add_stream(StreamConfig(name=subjects.STREAM, subjects=list(subjects.STREAM_SUBJECTS), max_bytes=9 * MiB))
    settings = RuntimeSettings(stream_max_bytes=32 * MiB, kv_max_bytes=2 * MiB).model_copy(update={"nats_url": server})
    assert await configure(settings) == [f"KV_{JOURNAL_BUCKET}"]
    assert (await max_bytes_of(nc, f"KV_{JOURNAL_BUCKET}")) == 2 * MiB
    assert (await max_bytes_of(nc, subjects.STREAM)) == 32 * MiB
    assert await configure(settings) == []  # nothing left to change
