"""The event-sourced services on a PostgreSQL that is stopped for a while, or restarted, under
them: billing keeps deciding runs and the orchestrator keeps driving them once the server is
back, no message is dead-lettered for the outage, and each is applied once."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import eventsourcing.persistence
import nats.errors
import pytest
from nats.aio.msg import Msg

from contracts import subjects
from contracts.registry import parse_event
from contracts.run import RunRequested, RunRequestedPayload
from devtools.pgserver import EphemeralCluster
from quarry_runtime.bus import Bus
from quarry_runtime.store import EVENTSTORE_CONNECT_TIMEOUT_S, eventstore_env
from services.billing.application import Billing
from services.billing.bootstrap import NAME as BILLING
from services.billing.bootstrap import BillingSettings, build
from services.orchestrator.application import Orchestrator
from services.orchestrator.bootstrap import NAME as ORCHESTRATOR
from services.orchestrator.bootstrap import OrchestratorSettings
from services.orchestrator.bootstrap import build as build_orchestrator
from services.orchestrator.runs.domain import Run
from tests.servers import private_nats
from tests.support.jetstream import Outcomes, service_drained
from tests.support.polling import eventually
from tests.support.services import billing_service, in_process

pytestmark = pytest.mark.infra

OUTAGE_S = 6.0
# After the outage: the bus redelivers within its backoff (at most 10 s) and the pool is back.
RECOVERY_S = 30.0


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of this module's own: on the session's, billing's durable consumers would first
    work through every earlier test's backlog, for longer than these tests wait."""
    with private_nats(tmp_path_factory.mktemp("eventstore-nats")) as server:
        yield server.admin_url


def request(tenant_id: str) -> RunRequested:
    return RunRequested.create(
        RunRequestedPayload(question="how do tides work?", depth=1, max_sources=5),
        tenant_id=tenant_id,
        run_id=str(uuid.uuid4()),
    )


async def publish(bus: Bus, event: RunRequested) -> None:
    """Publish as a relay does: a timed-out ack is retried with the same id (de-duplicated). In
    the outage the services' event loop, which this test shares, is held up to the pool's
    connect timeout per store call, so an ack can come late."""
    for attempt in range(10):
        try:
            await bus.publish(event)
            return
        except nats.errors.TimeoutError:
            if attempt == 9:
                raise


async def test_billing_decides_runs_through_a_postgres_outage_and_a_restart(
    cluster: EphemeralCluster, nats_url: str, tmp_path: Path
) -> None:
    # Three deliveries before a failing message is dead-lettered: an outage counted against the
    # message would dead-letter within seconds.
    settings = BillingSettings(
        data_dir=tmp_path, database_url=cluster.url, db_schema_prefix=f"q{uuid.uuid4().hex[:8]}", max_deliver=3
    ).model_copy(update={"nats_url": nats_url})
    known = [uuid.uuid4().hex for _ in range(2)]
    async with billing_service(settings):
        service = build(settings)  # only for its connection to watch the subjects
        await service.bus.broker.connect()
        nc = service.bus.broker.connection

        seen = await Outcomes.watch(nc, [subjects.CREDITS_RESERVED, subjects.CREDITS_DENIED], [BILLING])
        decided, dead = seen.by_run, seen.dead
        runs: dict[str, list[str]] = {}

        async def ask(tenant_id: str) -> None:
            req = request(tenant_id)
            runs.setdefault(tenant_id, []).append(req.run_id or "")
            await publish(service.bus, req)

        for tenant in known:
            await ask(tenant)
        await eventually(lambda: len(decided) == 2, 60, "billing decides runs before the outage")

        cluster.halt()
        try:
            # Cached ledgers (their commit fails) and a new tenant (its load fails).
            for tenant in [*known, uuid.uuid4().hex]:
                await ask(tenant)
            await asyncio.sleep(OUTAGE_S)
        finally:
            cluster.resume()

        def everyone() -> set[str]:
            return {r for rs in runs.values() for r in rs}

        await eventually(lambda: everyone() <= set(decided), RECOVERY_S, f"runs decided after the outage: {decided}")

        cluster.restart()
        for tenant in [known[0], uuid.uuid4().hex]:
            await ask(tenant)
        await eventually(lambda: everyone() <= set(decided), RECOVERY_S, f"runs decided after the restart: {decided}")
        await service_drained(nc.jetstream(), BILLING)  # a dead letter is sent before its message is let go
        await seen.received()
        await service.bus.broker.stop()

    assert dead == [], [m.headers for m in dead]
    # Each run decided once: one event id per run, however often the relay published it.
    assert all(len(set(ids)) == 1 for ids in decided.values()), decided
    store = Billing(env=eventstore_env(settings, BILLING))
    try:
        for tenant, tenant_runs in runs.items():
            ledger = store.ledger(tenant, copy=True)
            for run_id in tenant_runs:
                assert run_id in ledger.reservations or run_id in ledger.denied_runs, (tenant, run_id)
            # One ledger event per decision, plus the ledger's opening ones: nothing applied twice.
            causes = [c for e in store.repository.event_store.get(ledger.id) if (c := getattr(e, "cause", None))]
            assert len(causes) == len(set(causes)), causes
    finally:
        store.close()


@contextlib.asynccontextmanager
async def orchestrator_service(settings: OrchestratorSettings) -> AsyncIterator[None]:
    """The orchestrator as `run` drives it (bus, consumers, relay, group commit), in process."""
    async with in_process(build_orchestrator(settings)):
        yield


async def test_the_orchestrator_admits_runs_through_a_postgres_outage_and_a_restart(
    cluster: EphemeralCluster, nats_url: str, tmp_path: Path
) -> None:
    """Requested (orchestrator), reserved (billing), admitted (orchestrator): the saga's first
    steps across both event stores while the server is away and after it restarts."""
    prefix = f"q{uuid.uuid4().hex[:8]}"
    billing = BillingSettings(
        data_dir=tmp_path / "billing", database_url=cluster.url, db_schema_prefix=prefix, max_deliver=3
    ).model_copy(update={"nats_url": nats_url})
    orchestrator = OrchestratorSettings(
        data_dir=tmp_path / "orchestrator", database_url=cluster.url, db_schema_prefix=prefix, max_deliver=3
    ).model_copy(update={"nats_url": nats_url})
    runs: list[str] = []
    async with billing_service(billing), orchestrator_service(orchestrator):
        watcher = Bus(nats_url, "test")
        await watcher.broker.connect()
        nc = watcher.broker.connection

        seen = await Outcomes.watch(nc, [subjects.RUN_ADMITTED], [ORCHESTRATOR, BILLING])
        admitted, dead = seen.by_run, seen.dead

        async def ask() -> None:
            req = request(uuid.uuid4().hex)
            runs.append(req.run_id or "")
            await publish(watcher, req)

        await ask()
        await eventually(lambda: set(runs) <= set(admitted), 15, "a run admitted before the outage")
        cluster.halt()
        try:
            for _ in range(3):
                await ask()
            await asyncio.sleep(OUTAGE_S)
        finally:
            cluster.resume()
        await eventually(lambda: set(runs) <= set(admitted), RECOVERY_S, f"runs admitted after the outage: {admitted}")
        cluster.restart()
        for _ in range(2):
            await ask()
        await eventually(lambda: set(runs) <= set(admitted), RECOVERY_S, f"runs admitted after the restart: {admitted}")
        await service_drained(nc.jetstream(), BILLING)
        await service_drained(nc.jetstream(), ORCHESTRATOR)
        await seen.received()
        await watcher.broker.stop()

    # The stream and the durable consumers are shared with the other tests on this server: only
    # this test's runs are its business.
    ours = [m for m in dead if _run_of(m) in set(runs)]
    assert ours == [], [m.headers for m in ours]
    assert all(len(set(ids)) == 1 for ids in admitted.values()), admitted
    store = Orchestrator(env=eventstore_env(orchestrator, ORCHESTRATOR))
    try:
        for run_id in runs:
            run: Run = store.repository.get(Run.create_id(run_id))
            kinds = [type(e).__name__ for e in store.repository.event_store.get(run.id)]
            assert kinds.count("Admitted") == 1, kinds  # applied once, however often redelivered
    finally:
        store.close()


def _run_of(msg: Msg) -> str | None:
    try:
        return parse_event(msg.data).run_id
    except (ValueError, KeyError):
        return None


def test_while_the_event_store_is_away_a_call_holds_the_loop_only_briefly(
    cluster: EphemeralCluster, tmp_path: Path
) -> None:
    """Every event store call runs on its service's event loop: once one has waited out the pool's
    connect timeout, the next ones fail fast until the server answers again, so an outage does not
    hold the loop for the full timeout per message (which timed out the bus's own requests)."""
    settings = BillingSettings(data_dir=tmp_path, database_url=cluster.url, db_schema_prefix=f"q{uuid.uuid4().hex[:8]}")
    billing = Billing(env=eventstore_env(settings, BILLING))
    try:
        tenant = uuid.uuid4().hex
        billing.ledger(tenant)  # a connection in the pool, and the tables made
        cluster.halt()
        try:
            waits = []
            for _ in range(5):
                started = time.monotonic()
                with pytest.raises(eventsourcing.persistence.OperationalError):
                    billing.ledger(uuid.uuid4().hex)
                waits.append(time.monotonic() - started)
        finally:
            cluster.resume()
        assert max(waits[1:]) < 1.0 < EVENTSTORE_CONNECT_TIMEOUT_S, waits
        deadline = time.monotonic() + RECOVERY_S
        while True:
            try:
                billing.ledger(uuid.uuid4().hex)
                break
            except eventsourcing.persistence.OperationalError:
                assert time.monotonic() < deadline, "the event store did not come back"
                time.sleep(0.2)
        started = time.monotonic()
        billing.ledger(tenant)
        assert time.monotonic() - started < 1.0, "back to normal once it answered"
    finally:
        billing.close()
