"""PostgreSQL's volume full under the platform (its tables on a small tmpfs), then space
returning: writes are refused as an outage, nothing is half-applied, and what was held is
applied once after."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from contracts import subjects
from contracts.registry import parse_event
from devtools import natsserver
from devtools.client import QuarryClient
from devtools.stack import StackConfig
from quarry_runtime.bus import Bus
from quarry_runtime.errors import Unavailable
from quarry_runtime.inflight import RETRY_AFTER_FAILURE_S, InFlight
from quarry_runtime.settings import MiB
from quarry_runtime.store import SqlDatabase, eventstore_env
from services.billing.application import Billing
from services.billing.bootstrap import NAME as BILLING
from services.billing.bootstrap import BillingSettings
from services.gateway.accounts import AccountStore
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings
from tests.integration.full_disk import (
    HELD_S,
    QUESTIONS,
    RECOVERY_S,
    STACK_HELD_S,
    STORE_LIMIT,
    FullableVolume,
    fill,
    free_space,
    jetstream_with_limit,
    messages_in,
    refused_writes,
    small_gateway,
)
from tests.integration.test_eventstore_reconnect import publish as publish_run
from tests.integration.test_eventstore_reconnect import request as run_request
from tests.support.jetstream import Outcomes, service_drained
from tests.support.polling import eventually, wait_for
from tests.support.services import billing_service
from tests.support.stack import TERMINAL, ask, running, until_settled, views_of

pytestmark = pytest.mark.infra


def test_the_gateway_answers_503_while_its_database_volume_is_full_and_applies_nothing(
    volume: FullableVolume, tmp_path: Path
) -> None:
    settings = GatewaySettings(data_dir=tmp_path, database_url=volume.url, db_schema_prefix=f"q{uuid.uuid4().hex[:8]}")
    db = SqlDatabase(settings, "gateway")  # its tables, empty: their first row needs a new page
    db.execute("CREATE TABLE probe (x TEXT)")
    parts = Components(settings, GatewayStore(db), cast(Any, None), RunFeed(), cast(Any, None), MonitorStore(db))
    http = TestClient(create_app(parts))  # no lifespan: sign-up needs no bus
    body = {"email": f"{uuid.uuid4().hex[:8]}@example.com", "password": "long-enough-1", "tenant_name": "t"}
    try:
        volume.fill()
        try:
            refused = http.post("/v1/auth/signup", json=body)
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) >= 1
            with pytest.raises(Unavailable, match="could not extend file"):
                db.execute("INSERT INTO probe VALUES ('x')")  # PostgreSQL's "disk full" is an outage
        finally:
            volume.free()
        # The same sign-up again: accepted, so the refused one left nothing behind (no 409).
        accepted = http.post("/v1/auth/signup", json=body)
        assert accepted.status_code == 201, accepted.text
        assert AccountStore(db).user_by_email(body["email"]) is not None
    finally:
        db.close()


async def test_billing_holds_runs_while_its_event_store_volume_is_full_and_decides_each_once_after(
    volume: FullableVolume, nats_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Three deliveries before a failing message is dead-lettered: the outage, counted, would
    # dead-letter the held runs within seconds.
    settings = BillingSettings(
        data_dir=tmp_path, database_url=volume.url, db_schema_prefix=f"q{uuid.uuid4().hex[:8]}", max_deliver=3
    ).model_copy(update={"nats_url": nats_url})
    runs: dict[str, str] = {}  # run -> tenant
    async with billing_service(settings):
        watcher = Bus(nats_url, "test")
        await watcher.broker.connect()
        nc = watcher.broker.connection

        seen = await Outcomes.watch(nc, [subjects.CREDITS_RESERVED, subjects.CREDITS_DENIED], [BILLING])
        decided, dead = seen.by_run, seen.dead

        async def ask(tenant: str) -> None:
            req = run_request(tenant)
            runs[req.run_id or ""] = tenant
            await publish_run(watcher, req)

        await ask(uuid.uuid4().hex)
        await eventually(lambda: set(runs) <= set(decided), 15, "a run decided before the volume fills")

        volume.fill()
        try:
            with caplog.at_level(logging.WARNING):
                # New tenants: each opens a ledger, more rows than the pages in hand can take.
                for _ in range(12):
                    await ask(uuid.uuid4().hex)
                await eventually(lambda: "could not extend file" in caplog.text, 30, "PostgreSQL to refuse a write")
                await asyncio.sleep(HELD_S)
            held = set(runs) - set(decided)
            assert held, "every run was decided while the volume was full: nothing was held"
        finally:
            volume.free()
        await eventually(
            lambda: set(runs) <= set(decided), RECOVERY_S * 2, f"runs decided after space returned: {decided}"
        )
        await service_drained(nc.jetstream(), BILLING)  # a dead letter is sent before its message is let go
        await seen.received()
        await watcher.broker.stop()

    ours = [m for m in dead if parse_event(m.data).run_id in runs]
    assert ours == [], [m.headers for m in ours]
    # Each run decided once: one decision event per run, however often it was redelivered.
    assert all(len(set(decided[r])) == 1 for r in runs), decided
    store = Billing(env=eventstore_env(settings, BILLING))
    try:
        for run_id, tenant in runs.items():
            ledger = store.ledger(tenant, copy=True)
            assert run_id in ledger.reservations or run_id in ledger.denied_runs, (tenant, run_id)
            # Nothing half-applied or applied twice: one ledger event per cause.
            found = (getattr(e, "cause", None) for e in store.repository.event_store.get(ledger.id))
            causes = [c for c in found if c]
            assert len(causes) == len(set(causes)), causes
    finally:
        store.close()


async def test_an_in_flight_mark_left_by_a_full_store_is_not_counted_as_a_death(
    full_disk_bus: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    _, url, _ = full_disk_bus
    bus = Bus(url, "marks", stream_max_bytes=4 * MiB, deadletter_max_bytes=MiB, kv_max_bytes=MiB)
    await bus.start()
    try:
        now = [0.0]
        js = bus.broker.connection.jetstream
        marks = InFlight(js, bus.service, max_bytes=MiB, clock=lambda: now[0])
        key = "QUARRY.marks-runs.7"
        assert await marks.begin(key) == 0
        await fill(url)
        await marks.end(key)  # the removal is refused: the mark stays in the bucket
        assert await marks.begin("QUARRY.marks-runs.8") is None  # unmarked while writes fail
        await free_space(url)
        # Its next delivery, once JetStream takes writes again: the handling that left the mark
        # ended, so no death is counted.
        deadline = time.monotonic() + RECOVERY_S
        while (deaths := await marks.begin(key)) is None:
            assert time.monotonic() < deadline, "in-flight marks still refused after space returned"
            now[0] += RETRY_AFTER_FAILURE_S + 1
            await asyncio.sleep(0.2)
        assert deaths == 0
        await marks.end(key)
        assert await marks.begin(key) == 0
        assert await marks.begin(key) == 1  # a handling that really never ended still counts
    finally:
        await bus.stop()


async def test_a_run_the_bus_accepted_is_not_refused_because_the_read_model_volume_is_full(
    volume: FullableVolume, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 503 tells the client to send it again: after the publish that would be a second run."""
    settings = GatewaySettings(data_dir=tmp_path, database_url=volume.url, db_schema_prefix=f"q{uuid.uuid4().hex[:8]}")
    with jetstream_with_limit(tmp_path / "nats", STORE_LIMIT) as (_, url, _):
        async with small_gateway(url, settings) as (http, bus, auth):
            volume.fill()
            try:
                with caplog.at_level(logging.WARNING):
                    run = {"question": "is the read model full?", "depth": 1, "max_sources": 3}
                    accepted = await http.post("/v1/runs", json=run, headers=auth)
                assert accepted.status_code == 202, accepted.text
                assert "the read model applies it later" in caplog.text  # its store did refuse the write
            finally:
                volume.free()
            nc = bus.broker.connection
            info = await nc.jetstream().stream_info(subjects.STREAM, subjects_filter=subjects.RUN_REQUESTED)
            assert info.state.messages == 1  # published once


def test_runs_are_held_while_the_postgres_volume_is_full_and_complete_when_space_returns(tmp_path: Path) -> None:
    """The whole platform on PostgreSQL whose tables fill up in the middle of runs."""
    volume = FullableVolume(size="256m")
    try:
        stack_config = StackConfig(
            data_dir=tmp_path / "stack", http_port=natsserver.free_port(), database_url=volume.url
        )
        with running(stack_config) as stack:
            client = QuarryClient(f"http://127.0.0.1:{stack.config.http_port}")
            try:
                client.signup(f"full-{uuid.uuid4().hex[:6]}@example.com", "correct-horse-battery", "full disk")
                runs = {ask(client, question=q, depth=2): client for q in QUESTIONS}
                volume.fill()
                try:
                    in_flight = {r for r, view in views_of(runs).items() if view["state"] not in TERMINAL}
                    assert in_flight, "every run ended before the volume filled: nothing was held"
                    # Writes that fit in pages in hand still succeed; the next that needs a page is refused.
                    wait_for(lambda: refused_writes(stack.logs), 60, "PostgreSQL to refuse a write for lack of space")
                    time.sleep(STACK_HELD_S)
                    held = views_of({r: client for r in in_flight})
                    assert all(v["state"] not in ("failed", "cancelled", "expired") for v in held.values()), held
                finally:
                    volume.free()
                settled = until_settled(runs, timeout_s=300)
                assert {r: v["state"] for r, v in settled.items()} == dict.fromkeys(runs, "completed"), settled
                assert all(v["cost"]["closed"] for v in settled.values()), settled
            finally:
                client.close()
            dead = asyncio.run(messages_in(stack.nats_url, subjects.DEADLETTER_STREAM))
            assert dead == 0, stack.tail("orchestrator")
    finally:
        volume.close()
