"""A service's NATS user schedules only its own subjects, the orchestrator re-arms timers without
reading other events, and a service checks the server's certificate over TLS."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from nats.errors import NoServersError

from contracts import subjects
from contracts.run import RunCompleted, RunCompletedPayload
from contracts.timer import TimerFired, TimerFiredPayload
from devtools import natsserver
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.timersweep import TimerSweep
from quarry_security import natsauth
from tests.support.nats_users import (
    BILLING_COMPLETED,
    Server,
    Violations,
    connect_as,
    server,
    stored,
    streams,
    write_tls,
)

pytestmark = pytest.mark.infra
__all__ = ["server", "streams"]  # fixtures


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
