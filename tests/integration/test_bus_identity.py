"""Each service's own NATS user, on a real nats-server configured by quarry_security.natsauth:
it can do its job, and cannot speak for another service."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from nats.aio.client import Client
from nats.errors import NoServersError
from nats.js.api import ConsumerConfig, KeyValueConfig, StreamConfig, SubjectTransform

from contracts import consumers, subjects
from contracts.document import UPLOADS_BUCKET
from contracts.run import RunCompleted, RunCompletedPayload
from contracts.timer import TimerFired, TimerFiredPayload
from devtools import natsserver
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.timersweep import TimerSweep
from quarry_security import natsauth

pytestmark = pytest.mark.infra


@dataclass(frozen=True)
class Server:
    url: str  # no credentials in it
    passwords: dict[str, str]
    admin: tuple[str, str]  # a user without limits, to look at what the services did


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("nats-identity")
    passwords = natsauth.StackCredentials(root / "credentials").ensure()
    admin = ("quarry-test", passwords.pop(natsauth.OPERATOR))
    config = natsauth.write_server_config(root / "nats.conf", passwords, admin=admin)
    proc, url = natsserver.start(root / "store", config_file=config)
    yield Server(url, passwords, admin)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


class Violations:
    """The permission errors the server reports to one connection (asynchronously)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def record(self, error: Exception) -> None:
        self.seen.append(str(error))

    async def wait_for(self, subject: str, timeout_s: float = 5.0) -> str:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            for text in self.seen:
                if "permissions violation" in text.lower() and subject.lower() in text.lower():
                    return text
            await asyncio.sleep(0.05)
        raise AssertionError(f"no permissions violation for {subject}; saw {self.seen}")


async def connect_as(server: Server, service: str, errors: Violations) -> Client:
    return await nats.connect(
        server.url,
        user=service,
        password=server.passwords[service],
        inbox_prefix=f"_INBOX_{service}",
        error_cb=errors.record,
        allow_reconnect=False,
    )


# Billing's own consumer of completed runs: a service's user runs only the consumers it has.
BILLING_COMPLETED = consumers.durable("billing", subjects.RUN_COMPLETED)


@pytest.fixture
async def streams(server: Server) -> AsyncIterator[None]:
    # The streams exist as every service's start makes them.
    bus = Bus(server.url, "policy", credentials=("policy", server.passwords["policy"]))
    await bus.start()
    yield
    await bus.stop()


async def stored(nc: Client, subject: str) -> int:
    info = await nc.jetstream().stream_info(subjects.STREAM, subjects_filter=subject)
    return (info.state.subjects or {}).get(subject, 0)


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


async def billing_has_its_consumer(server: Server) -> None:
    """Billing's consumer of completed runs exists, as a running billing leaves it."""
    billing = Bus(server.url, "billing", credentials=("billing", server.passwords["billing"]))

    async def ignore(ev: RunCompleted) -> None:
        return None

    billing.subscribe(Subscription(subjects.RUN_COMPLETED, BILLING_COMPLETED, ignore))
    await billing.start()
    await billing.stop()


SNOOPS = [
    pytest.param(
        "reporter-lane",
        "credits.>",
        f"$JS.API.CONSUMER.CREATE.{subjects.STREAM}.reporter-lane.credits.>",
        id="own-name-other-filter",
    ),
    pytest.param(
        "reporter-lane", ">", f"$JS.API.CONSUMER.CREATE.{subjects.STREAM}.reporter-lane", id="own-name-every-event"
    ),
    pytest.param(
        "reporter-snoop",
        subjects.CREDITS_REFUNDED,
        f"$JS.API.CONSUMER.CREATE.{subjects.STREAM}.reporter-snoop.{subjects.CREDITS_REFUNDED}",
        id="new-name",
    ),
    pytest.param(None, ">", f"$JS.API.CONSUMER.CREATE.{subjects.STREAM}", id="ephemeral"),
]


@pytest.mark.parametrize(("name", "filter_subject", "api"), SNOOPS)
async def test_a_service_cannot_make_a_consumer_reading_other_events(
    server: Server, streams: None, name: str | None, filter_subject: str, api: str
) -> None:
    """A consumer is a way to read events: the reporter's user may not make one that reads credits
    (or everything), under its own consumer's name, a new one, or none."""
    errors = Violations()
    nc = await connect_as(server, "reporter", errors)
    try:
        config = ConsumerConfig(name=name, durable_name=name, filter_subject=filter_subject)
        with pytest.raises(nats.errors.TimeoutError):
            await nc.jetstream(timeout=1.0).add_consumer(subjects.STREAM, config)
        await errors.wait_for(api)
        # The legacy way, with the filter only in the request's body.
        with pytest.raises(nats.errors.TimeoutError):
            await nc.request(
                f"$JS.API.CONSUMER.DURABLE.CREATE.{subjects.STREAM}.reporter-snoop",
                json.dumps(
                    {
                        "stream_name": subjects.STREAM,
                        "config": {"durable_name": "reporter-snoop", "filter_subject": ">"},
                    }
                ).encode(),
                timeout=1.0,
            )
        await errors.wait_for(f"$JS.API.CONSUMER.DURABLE.CREATE.{subjects.STREAM}.reporter-snoop")
    finally:
        await nc.close()


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(
            {"name": "reporter-lane", "durable_name": "reporter-lane", "filter_subject": "credits.>"}, id="filter"
        ),
        pytest.param(
            {"name": "reporter-lane", "durable_name": "reporter-lane", "filter_subjects": ["credits.>"]}, id="filters"
        ),
        pytest.param(
            {
                "name": "billing-run-v1-completed",
                "durable_name": "billing-run-v1-completed",
                "filter_subject": subjects.task_lane("reporter"),
            },
            id="name",
        ),
    ],
)
async def test_the_server_holds_a_consumer_to_the_name_and_filter_of_its_api_subject(
    server: Server, streams: None, config: dict[str, object]
) -> None:
    """The permissions pin a consumer's name and filter in the API subject; the server refuses a
    request whose body says otherwise (or it would be a way around them)."""
    errors = Violations()
    nc = await connect_as(server, "reporter", errors)
    try:
        lane = consumers.lane("reporter")
        body = {"stream_name": subjects.STREAM, "config": {**config, "ack_policy": "explicit"}}
        reply = await nc.request(
            f"$JS.API.CONSUMER.CREATE.{subjects.STREAM}.{lane.durable}.{lane.subject}",
            json.dumps(body).encode(),
            timeout=2.0,
        )
        assert "error" in json.loads(reply.data), reply.data
        assert errors.seen == []
    finally:
        await nc.close()


async def test_a_service_cannot_delete_drain_or_read_another_services_consumer(server: Server, streams: None) -> None:
    await billing_has_its_consumer(server)
    errors = Violations()
    nc = await connect_as(server, "reporter", errors)
    admin = await nats.connect(server.url, user=server.admin[0], password=server.admin[1])
    try:
        js = nc.jetstream(timeout=1.0)
        with pytest.raises(nats.errors.TimeoutError):
            await js.delete_consumer(subjects.STREAM, BILLING_COMPLETED)
        await errors.wait_for(f"$JS.API.CONSUMER.DELETE.{subjects.STREAM}.{BILLING_COMPLETED}")
        assert (await admin.jetstream().consumer_info(subjects.STREAM, BILLING_COMPLETED)).name == BILLING_COMPLETED
        # Nor take billing's messages from its queue (a pull request names the consumer).
        pull = await js.pull_subscribe_bind(BILLING_COMPLETED, stream=subjects.STREAM)
        with pytest.raises(nats.errors.TimeoutError):
            await pull.fetch(1, timeout=1.0)
        await errors.wait_for(f"$JS.API.CONSUMER.MSG.NEXT.{subjects.STREAM}.{BILLING_COMPLETED}")
        # Nor acknowledge billing's messages unhandled.
        ack = f"$JS.ACK.{subjects.STREAM}.{BILLING_COMPLETED}.1.1.1.1.0"
        await nc.publish(ack, b"+ACK")
        await errors.wait_for(ack)
        # Nor read the event stream message by message.
        with pytest.raises(nats.errors.TimeoutError):
            await js.get_msg(subjects.STREAM, 1)
        await errors.wait_for(f"$JS.API.STREAM.MSG.GET.{subjects.STREAM}")
    finally:
        await nc.close()
        await admin.close()


async def test_a_bucket_is_watched_and_read_by_its_services_only(server: Server) -> None:
    """The analyst watches and reads the tenant models' bucket (an ordered consumer of its
    stream); the reporter, which has no use for it, can do neither."""
    bucket = natsauth.TENANT_MODELS_BUCKET
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
        await watcher.stop()
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


async def test_a_scheduled_message_cannot_fire_another_services_subject(server: Server, streams: None) -> None:
    """JetStream publishes a schedule's target without checking the scheduler's permissions: the
    orchestrator (which schedules timers) could fire `credits.v1.refunded`. Consumers refuse it."""
    tenant = uuid.uuid4().hex
    handled: list[str] = []
    forged = RunCompleted.create(
        RunCompletedPayload(usage_event_ids=[], sources=0), tenant_id=tenant, run_id=str(uuid.uuid4())
    )

    async def on_completed(ev: RunCompleted) -> None:
        if ev.tenant_id == tenant:
            handled.append(ev.event_id)

    billing = Bus(server.url, "billing", credentials=("billing", server.passwords["billing"]))
    billing.subscribe(Subscription(subjects.RUN_COMPLETED, BILLING_COMPLETED, on_completed))
    await billing.start()
    errors = Violations()
    nc = await connect_as(server, "orchestrator", errors)
    admin = await nats.connect(server.url, user=server.admin[0], password=server.admin[1])
    try:
        due = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        await nc.jetstream().publish(
            subjects.timer_schedule(forged.event_id),
            forged.to_bytes(),
            headers={"Nats-Schedule": f"@at {due}", "Nats-Schedule-Target": subjects.RUN_COMPLETED},
            stream=subjects.STREAM,
        )
        # The dead letters are every service's; a service's own user may not read them.
        js = admin.jetstream()
        deadline = asyncio.get_running_loop().time() + 15
        reason = ""
        while forged.event_id not in reason and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
            info = await js.stream_info(subjects.DEADLETTER_STREAM, subjects_filter=subjects.deadletter("billing"))
            if (info.state.subjects or {}).get(subjects.deadletter("billing")):
                last = await js.get_last_msg(subjects.DEADLETTER_STREAM, subjects.deadletter("billing"))
                reason = (last.headers or {}).get("Quarry-Reason", "")
        assert f"fired by the schedule {subjects.timer_schedule(forged.event_id)}" in reason
        assert handled == []
    finally:
        await nc.close()
        await admin.close()
        await billing.stop()


async def test_the_orchestrator_re_arms_a_timer_but_reads_no_other_event_by_subject(
    server: Server, streams: None
) -> None:
    """Its timer sweep (quarry_runtime.timersweep) lists, reads and publishes again a held schedule
    with the orchestrator's own user; no other service may read a schedule, and the orchestrator
    may read no other event of the stream by its subject."""
    payload = TimerFiredPayload(timer_id=uuid.uuid4().hex, purpose="task_timeout", task_id="t-1", attempt=1)
    timer = TimerFired.create(payload, tenant_id=uuid.uuid4().hex)
    subject = subjects.timer_schedule(timer.event_id)
    orchestrator = Bus(server.url, "orchestrator", credentials=("orchestrator", server.passwords["orchestrator"]))
    await orchestrator.start()
    admin = await nats.connect(server.url, user=server.admin[0], password=server.admin[1])
    errors = {name: Violations() for name in ("orchestrator", "gateway")}
    clients = [await connect_as(server, name, errors[name]) for name in errors]
    try:
        await orchestrator.schedule(timer, datetime.now(UTC) + timedelta(hours=1))
        scheduled = await admin.jetstream().get_last_msg(subjects.STREAM, subject)
        # Seen from two hours on, it is held past its due time.
        sweep = TimerSweep(orchestrator, clock=lambda: datetime.now(UTC) + timedelta(hours=2))
        assert await sweep.sweep() == 1
        rearmed = await admin.jetstream().get_last_msg(subjects.STREAM, subject)
        assert rearmed.seq != scheduled.seq and rearmed.data == scheduled.data
        assert (rearmed.headers or {})["Nats-Msg-Id"] == f"schedule-{timer.event_id}-rearm-1"
        for header in ("Nats-Schedule", "Nats-Schedule-Target"):
            assert (rearmed.headers or {})[header] == (scheduled.headers or {})[header]
        assert await stored(admin, subject) == 1  # replaced, not added to

        orchestrator_nc, gateway = clients
        with pytest.raises(nats.errors.TimeoutError):
            await gateway.jetstream(timeout=1.0).get_msg(subjects.STREAM, subject=subject, direct=True)
        await errors["gateway"].wait_for(f"$JS.API.DIRECT.GET.{subjects.STREAM}")
        with pytest.raises(nats.errors.TimeoutError):
            await orchestrator_nc.jetstream(timeout=1.0).get_msg(
                subjects.STREAM, subject=subjects.RUN_REQUESTED, direct=True
            )
        await errors["orchestrator"].wait_for(f"$JS.API.DIRECT.GET.{subjects.STREAM}.{subjects.RUN_REQUESTED}")
    finally:
        for nc in (*clients, admin):
            await nc.close()
        await orchestrator.stop()


def write_tls(directory: Path) -> Path:
    """A CA, and a certificate it signed for localhost (the server's); returns the CA file."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "quarry-test-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "tls.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return directory / "ca.crt"


async def test_over_tls_a_service_checks_the_server_with_its_ca(tmp_path: Path) -> None:
    ca = write_tls(tmp_path)
    passwords = natsauth.StackCredentials(tmp_path / "credentials").ensure(natsauth.SERVICES)
    config = natsauth.write_server_config(tmp_path / "nats.conf", passwords)
    config.write_text(
        config.read_text()
        + f'tls {{\n  cert_file: "{tmp_path}/tls.crt"\n  key_file: "{tmp_path}/tls.key"\n  timeout: 5\n}}\n'
    )
    proc, url = natsserver.start(tmp_path / "store", config_file=config)
    try:
        tls_url = url.replace("nats://127.0.0.1", "tls://localhost")
        settings = RuntimeSettings(
            nats_user="policy", nats_password=passwords["policy"], nats_tls_ca_file=ca
        ).model_copy(update={"nats_url": tls_url})
        bus = Bus.from_settings(settings, "policy")
        await bus.start()
        try:
            assert bus.broker.connection.connected_url is not None
            await bus.broker.connection.jetstream().publish(subjects.TOOL_DECIDED, b"{}", stream=subjects.STREAM)
        finally:
            await bus.stop()
        # Without the CA, the server's certificate is not trusted: no connection.
        with pytest.raises((NoServersError, nats.errors.Error, OSError)):
            await nats.connect(
                tls_url,
                user="policy",
                password=passwords["policy"],
                tls=ssl.create_default_context(),
                allow_reconnect=False,
                max_reconnect_attempts=0,
                connect_timeout=2,
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
