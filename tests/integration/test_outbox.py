"""The transactional outbox on real stores (SQLite and PostgreSQL) and a real JetStream."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from contracts.envelope import Event
from contracts.ids import new_id
from contracts.run import RunRequested, RunRequestedPayload
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.outbox import OutboxRelay
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.billing.application import Billing
from services.billing.domain import Ledger
from services.billing.translate import translate
from tests.support.jetstream import drained

pytestmark = pytest.mark.infra


class OutboxCase:
    """One abstract case, run on each backend by the subclasses below."""

    @pytest.fixture
    def settings(self) -> RuntimeSettings:
        raise NotImplementedError

    async def test_stored_events_are_published_once_even_if_the_relay_crashes(
        self, settings: RuntimeSettings, nats_url: str
    ) -> None:
        app = Billing(env=eventstore_env(settings, "billing"))
        tenant = f"tenant-{uuid.uuid4().hex[:8]}"
        bus = Bus(nats_url, f"outbox-{uuid.uuid4().hex[:6]}")
        received: list[Event] = []

        async def collect(ev: Any) -> None:
            if ev.tenant_id == tenant:
                received.append(ev)

        bus.subscribe(Subscription("credits.>", bus.service, collect))
        await bus.start()

        def ledger_at(originator_id: Any, version: int) -> Ledger:
            found: Ledger = app.repository.get(originator_id, version=version)
            return found

        relay = OutboxRelay(app, bus, lambda de: translate(de, ledger_at))
        try:
            for _ in range(3):
                req = RunRequested.create(
                    RunRequestedPayload(question="q??", depth=1, max_sources=3), tenant_id=tenant, run_id=new_id()
                )
                app.admit(req)
            # Crash after publishing, before the position is recorded: the next relay re-publishes.
            recorder = relay._recorder
            original = recorder.insert_tracking

            def crash(*_: Any) -> None:
                raise ConnectionError("killed between publish and position")

            recorder.insert_tracking = crash  # type: ignore[method-assign]
            with pytest.raises(ConnectionError):
                await relay.run_once()
            recorder.insert_tracking = original  # type: ignore[method-assign]
            fresh = OutboxRelay(app, bus, lambda de: translate(de, ledger_at))
            assert await fresh.run_once() > 0
            assert await fresh.run_once() == 0
            await drained(bus.broker.connection.jetstream(), bus.service)
            types = sorted(e.type for e in received)
            assert types == ["credits.granted", "credits.reserved", "credits.reserved", "credits.reserved"]
            assert len({e.event_id for e in received}) == 4
            assert all(e.run_id for e in received if e.type == "credits.reserved")
        finally:
            await bus.stop()
            app.close()

    async def test_relays_racing_over_one_log_report_each_event_relayed_once(
        self, settings: RuntimeSettings, nats_url: str
    ) -> None:
        app = Billing(env=eventstore_env(settings, "billing"))
        tenant = f"tenant-{uuid.uuid4().hex[:8]}"
        bus = Bus(nats_url, f"outbox-{uuid.uuid4().hex[:6]}")
        await bus.start()
        told: list[str] = []

        def ledger_at(originator_id: Any, version: int | None) -> Ledger:
            found: Ledger = app.repository.get(originator_id, version=version)
            return found

        def relayed(_: Any, out: Any) -> None:
            told.extend(o.event.event_id for o in out if o.event.tenant_id == tenant)

        def relay() -> OutboxRelay:
            return OutboxRelay(app, bus, lambda de: translate(de, ledger_at), relayed=relayed)

        try:
            for _ in range(2):
                req = RunRequested.create(
                    RunRequestedPayload(question="q??", depth=1, max_sources=3), tenant_id=tenant, run_id=new_id()
                )
                app.admit(req)
            # Two replicas read the same batch and publish it at once; one records its position.
            first, second = relay(), relay()
            covered = await asyncio.gather(first.run_once(), second.run_once())
            assert covered[0] == covered[1] > 0
            assert await first.run_once() == await second.run_once() == 0
            assert len(told) == len(set(told)) == 3, told
            # A relay that dies before recording its position tells nothing; the next one tells all.
            app.admit(
                RunRequested.create(
                    RunRequestedPayload(question="q??", depth=1, max_sources=3), tenant_id=tenant, run_id=new_id()
                )
            )
            crashing = relay()

            def crash(*_: Any) -> None:
                raise ConnectionError("killed between publish and position")

            original = crashing._recorder.insert_tracking
            crashing._recorder.insert_tracking = crash  # type: ignore[method-assign,assignment]
            with pytest.raises(ConnectionError):
                await crashing.run_once()
            crashing._recorder.insert_tracking = original  # type: ignore[method-assign]
            assert len(told) == 3
            assert await relay().run_once() > 0
            assert len(told) == len(set(told)) == 4
        finally:
            await bus.stop()
            app.close()

    async def test_an_event_is_applied_once_however_often_it_is_delivered(self, settings: RuntimeSettings) -> None:
        app = Billing(env=eventstore_env(settings, "billing"))
        req = RunRequested.create(
            RunRequestedPayload(question="q??", depth=1, max_sources=3), tenant_id="t", run_id=new_id()
        )
        for _ in range(3):
            app.admit(req)
        ledger = app.ledger("t")
        assert len(ledger.reservations) == 1
        # A second application over the same store (a restarted billing) sees the same ledger.
        again = Billing(env=eventstore_env(settings, "billing"))
        again.admit(req)
        assert again.ledger("t").version == ledger.version
        app.close()
        again.close()


class TestOutboxOnSQLite(OutboxCase):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> RuntimeSettings:
        return RuntimeSettings(data_dir=tmp_path)


class TestOutboxOnPostgres(OutboxCase):
    @pytest.fixture
    def settings(self, tmp_path: Path, database_url: str) -> RuntimeSettings:
        return RuntimeSettings(data_dir=tmp_path, database_url=database_url)
