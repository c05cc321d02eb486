"""Each service's own NATS user, on a real nats-server configured by quarry_security.natsauth:
it can do its job, and cannot speak for another service."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import nats
import pytest
from nats.errors import NoServersError
from nats.js.api import KeyValueConfig, StreamConfig, SubjectTransform

from contracts import subjects
from contracts.document import UPLOADS_BUCKET
from contracts.run import RunCompleted, RunCompletedPayload
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.tenant_models import BUCKET as TENANT_MODELS_BUCKET
from tests.support.nats_users import BILLING_COMPLETED, Server, Violations, connect_as, server, stored, streams

pytestmark = pytest.mark.infra
__all__ = ["server", "streams"]  # fixtures


@pytest.mark.parametrize(
    ("service", "forged"),
    [
        ("billing", subjects.TOOL_DECIDED),
        ("orchestrator", subjects.CREDITS_REFUNDED),
        ("gateway", subjects.CREDITS_GRANTED),
        ("gateway", subjects.RUN_COMPLETED),
        ("analyst", subjects.TOOL_DECIDED),
        ("retriever", subjects.REPORT_PUBLISHED),
        ("reporter", subjects.CREDITS_REFUNDED),
        ("policy", subjects.CREDITS_ADJUSTED),
    ],
)
async def test_a_service_cannot_publish_another_services_subject(
    server: Server, streams: None, service: str, forged: str
) -> None:
    errors = Violations()
    nc = await connect_as(server, service, errors)
    try:
        with pytest.raises((nats.errors.TimeoutError, nats.js.errors.NoStreamResponseError)):
            await nc.jetstream().publish(forged, b'{"forged": true}', timeout=1.0)
        await errors.wait_for(forged)
        assert await stored(nc, forged) == 0
    finally:
        await nc.close()


async def test_a_service_cannot_listen_to_another_services_requests_or_inbox(server: Server) -> None:
    errors = Violations()
    nc = await connect_as(server, "gateway", errors)
    try:
        await nc.subscribe(subjects.BILLING_WEBHOOK)
        await errors.wait_for(subjects.BILLING_WEBHOOK)
        await nc.subscribe("_INBOX_billing.>")
        await errors.wait_for("_INBOX_billing.>")
        await nc.subscribe(subjects.CREDITS_REFUNDED)
        await errors.wait_for(subjects.CREDITS_REFUNDED)
    finally:
        await nc.close()


async def test_an_anonymous_connection_or_a_wrong_password_is_refused(server: Server) -> None:
    with pytest.raises((NoServersError, nats.errors.Error)):
        await nats.connect(server.url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)
    with pytest.raises((NoServersError, nats.errors.Error)):
        await nats.connect(
            server.url, user="billing", password="guess", allow_reconnect=False, max_reconnect_attempts=0
        )


async def test_a_service_with_its_own_user_publishes_consumes_and_keeps_its_buckets(server: Server) -> None:
    """The orchestrator's user publishes run events; the billing user consumes them durably
    (consumer, fetch, ack) and publishes credits; policy publishes decisions."""
    tenant = uuid.uuid4().hex
    received: list[str] = []
    arrived = asyncio.Event()

    async def on_completed(ev: RunCompleted) -> None:
        if ev.tenant_id == tenant:
            received.append(ev.event_id)
            arrived.set()

    billing = Bus(server.url, "billing", credentials=("billing", server.passwords["billing"]))
    billing.subscribe(Subscription(subjects.RUN_COMPLETED, BILLING_COMPLETED, on_completed))
    orchestrator = Bus(server.url, "orchestrator", credentials=("orchestrator", server.passwords["orchestrator"]))
    await billing.start()
    await orchestrator.start()
    try:
        done = RunCompleted.create(
            RunCompletedPayload(usage_event_ids=[], sources=0), tenant_id=tenant, run_id=str(uuid.uuid4())
        )
        assert await orchestrator.publish(done)
        await asyncio.wait_for(arrived.wait(), timeout=10)
        assert received == [done.event_id]
        js = billing.broker.connection.jetstream()
        await js.publish(subjects.CREDITS_REFUNDED, b"{}", stream=subjects.STREAM)
        await js.publish(subjects.deadletter("billing"), b"{}")
    finally:
        await billing.stop()
        await orchestrator.stop()


async def test_a_service_cannot_create_change_or_delete_a_stream(server: Server, streams: None) -> None:
    """A subject transform or a source added to the event stream would forge any subject."""
    errors = Violations()
    nc = await connect_as(server, "gateway", errors)
    try:
        js = nc.jetstream(timeout=1.0)
        config = (await js.stream_info(subjects.STREAM)).config
        forging = dataclasses.replace(
            config, subject_transform=SubjectTransform(src=subjects.RUN_REQUESTED, dest=subjects.CREDITS_GRANTED)
        )
        with pytest.raises(nats.errors.TimeoutError):
            await js.update_stream(forging)
        await errors.wait_for(f"$JS.API.STREAM.UPDATE.{subjects.STREAM}")
        with pytest.raises(nats.errors.TimeoutError):
            await js.delete_stream(subjects.DEADLETTER_STREAM)
        await errors.wait_for(f"$JS.API.STREAM.DELETE.{subjects.DEADLETTER_STREAM}")
        assert (await js.stream_info(subjects.STREAM)).config.subject_transform is None
        # Nor create a stream of its own: one capturing billing's requests would read them all.
        with pytest.raises(nats.errors.TimeoutError):
            await js.add_stream(StreamConfig(name="SNOOP", subjects=["billing.v1.>"]))
        await errors.wait_for("$JS.API.STREAM.CREATE.SNOOP")
    finally:
        await nc.close()


async def test_a_bucket_is_watched_and_read_by_its_services_only(server: Server) -> None:
    """The analyst watches and reads the tenant models' bucket (an ordered consumer of its
    stream); the reporter, which has no use for it, can do neither."""
    bucket = TENANT_MODELS_BUCKET
    errors = {name: Violations() for name in ("gateway", "analyst", "reporter")}
    gateway, analyst, reporter = [await connect_as(server, name, errors[name]) for name in errors]
    try:
        writer = await gateway.jetstream().create_key_value(KeyValueConfig(bucket=bucket, max_bytes=1024 * 1024))
        kv = await analyst.jetstream(timeout=2.0).key_value(bucket)
        watcher = await kv.watchall(meta_only=True)
        key = f"t{uuid.uuid4().hex}"
        await writer.put(key, b"sealed")
        seen: list[str] = []
        async with asyncio.timeout(10):
            async for entry in watcher:
                if entry is not None:
                    seen.append(entry.key)
                if key in seen:
                    break
        assert (await kv.get(key)).value == b"sealed"
        await watcher.stop()  # type: ignore[no-untyped-call]  # nats-py leaves KeyWatcher.stop unannotated
        assert errors["analyst"].seen == [] and errors["gateway"].seen == []
        with pytest.raises(nats.errors.TimeoutError):
            await reporter.request(f"$JS.API.DIRECT.GET.KV_{bucket}.$KV.{bucket}.{key}", b"", timeout=1.0)
        await errors["reporter"].wait_for(f"$JS.API.DIRECT.GET.KV_{bucket}")
        # Nor list a bucket's keys, or the names of the tenants' uploads, in its description.
        for stream in (f"KV_{bucket}", f"OBJ_{UPLOADS_BUCKET}"):
            with pytest.raises(nats.errors.TimeoutError):
                await reporter.jetstream(timeout=1.0).stream_info(stream, subjects_filter=">")
            await errors["reporter"].wait_for(f"$JS.API.STREAM.INFO.{stream}")
    finally:
        for nc in (gateway, analyst, reporter):
            await nc.close()


async def test_a_service_with_other_limits_starts_and_leaves_the_stream_as_it_is(
    server: Server, streams: None, caplog: pytest.LogCaptureFixture
) -> None:
    bus = Bus(
        server.url, "billing", credentials=("billing", server.passwords["billing"]), stream_max_bytes=5 * 1024 * 1024
    )
    await bus.start()
    try:
        info = await bus.broker.connection.jetstream().stream_info(subjects.STREAM)
        assert info.config.max_bytes != 5 * 1024 * 1024
        assert "may not update it" in caplog.text
    finally:
        await bus.stop()
