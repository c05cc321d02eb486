"""The transactional outbox on real stores (SQLite and PostgreSQL) and a real JetStream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.envelope import Event
from contracts.ids import new_id
from contracts.run import RunRequested, RunRequestedPayload
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.outbox import OutboxRelay, Translate
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.billing.application import Billing
from services.billing.domain import Ledger
from services.billing.translate import translate
from tests.support.jetstream import drained

pytestmark = pytest.mark.infra


def run_requested(tenant: str) -> RunRequested:
    return RunRequested.create(
        RunRequestedPayload(question="q??", depth=1, max_sources=3), tenant_id=tenant, run_id=new_id()
    )


def admit_runs(app: Billing, tenant: str, runs: int) -> None:
    """`runs` new runs of `tenant` admitted: each reserves credits, the first also grants the
    tenant's opening credits."""
    for _ in range(runs):
        app.admit(run_requested(tenant))


def translator(app: Billing) -> Translate:
    """Billing's outbox translation, reading each ledger as it stood at the event's version."""

    def ledger_at(originator_id: Any, version: int | None) -> Ledger:
        found: Ledger = app.repository.get(originator_id, version=version)
        return found

    return lambda domain_event: translate(domain_event, ledger_at)


async def dies_before_recording(relay: OutboxRelay) -> None:
    """One run of `relay` that publishes its batch and is killed before it records its position."""
    recorder = relay._recorder
    original = recorder.insert_tracking

    def crash(*_: Any) -> None:
        raise ConnectionError("killed between publish and position")

    recorder.insert_tracking = crash  # type: ignore[method-assign,assignment]
    try:
        with pytest.raises(ConnectionError):
            await relay.run_once()
    finally:
        recorder.insert_tracking = original  # type: ignore[method-assign]


@pytest.fixture
def settings(tmp_path: Path, database_url_or_none: str | None) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path, database_url=database_url_or_none)


@pytest.fixture
def billing(settings: RuntimeSettings) -> Iterator[Billing]:
    """Billing's application on the test's store: its event log is the outbox the relays read."""
    app = Billing(env=eventstore_env(settings, "billing"))
    yield app
    app.close()


async def test_stored_events_are_published_once_even_if_the_relay_crashes(billing: Billing, nats_url: str) -> None:
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    bus = Bus(nats_url, f"outbox-{uuid.uuid4().hex[:6]}")
    received: list[Event] = []

    async def collect(ev: Any) -> None:
        if ev.tenant_id == tenant:
            received.append(ev)

    bus.subscribe(Subscription("credits.>", bus.service, collect))
    await bus.start()
    relay = OutboxRelay(billing, bus, translator(billing))
    try:
        admit_runs(billing, tenant, 3)
        # Crash after publishing, before the position is recorded: the next relay re-publishes.
        await dies_before_recording(relay)
        fresh = OutboxRelay(billing, bus, translator(billing))
        assert await fresh.run_once() > 0
        assert await fresh.run_once() == 0
        await drained(bus.broker.connection.jetstream(), bus.service)
        types = sorted(e.type for e in received)
        assert types == ["credits.granted", "credits.reserved", "credits.reserved", "credits.reserved"]
        assert len({e.event_id for e in received}) == 4
        assert all(e.run_id for e in received if e.type == "credits.reserved")
    finally:
        await bus.stop()


async def test_relays_racing_over_one_log_report_each_event_relayed_once(billing: Billing, nats_url: str) -> None:
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    bus = Bus(nats_url, f"outbox-{uuid.uuid4().hex[:6]}")
    await bus.start()
    told: list[str] = []

    def relayed(_: Any, out: Any) -> None:
        told.extend(o.event.event_id for o in out if o.event.tenant_id == tenant)

    def relay() -> OutboxRelay:
        return OutboxRelay(billing, bus, translator(billing), relayed=relayed)

    try:
        admit_runs(billing, tenant, 2)
        # Two replicas read the same batch and publish it at once; one records its position.
        first, second = relay(), relay()
        covered = await asyncio.gather(first.run_once(), second.run_once())
        assert covered[0] == covered[1] > 0
        assert await first.run_once() == await second.run_once() == 0
        assert len(told) == len(set(told)) == 3, told
        # A relay that dies before recording its position tells nothing; the next one tells all.
        admit_runs(billing, tenant, 1)
        await dies_before_recording(relay())
        assert len(told) == 3
        assert await relay().run_once() > 0
        assert len(told) == len(set(told)) == 4
    finally:
        await bus.stop()


async def test_an_event_is_applied_once_however_often_it_is_delivered(
    settings: RuntimeSettings, billing: Billing
) -> None:
    req = run_requested("t")
    for _ in range(3):
        billing.admit(req)
    ledger = billing.ledger("t")
    assert len(ledger.reservations) == 1
    # A second application over the same store (a restarted billing) sees the same ledger.
    again = Billing(env=eventstore_env(settings, "billing"))
    again.admit(req)
    assert again.ledger("t").version == ledger.version
    again.close()
