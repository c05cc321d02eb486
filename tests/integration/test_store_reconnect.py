"""The SQL stores on a PostgreSQL that is restarted or stopped for a while under them: the
process keeps its store object and carries on once the server is back, a request in the outage
fails fast as "unavailable", and a bus handler caught by the outage is redelivered until it is
applied, once, instead of being dead-lettered."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from contracts import subjects
from contracts.run import RunAdmitted, RunAdmittedPayload, RunRequested, RunRequestedPayload
from devtools.pgserver import EphemeralCluster
from quarry_runtime.bus import Bus
from quarry_runtime.errors import Unavailable
from quarry_runtime.store import SqlDatabase
from services.gateway.accounts import AccountStore
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import LiveViews, RunFeed, subscriptions
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings
from services.policy.store import PolicyStore
from tests.support.polling import eventually
from tests.unit.test_policy_versions import decided

pytestmark = pytest.mark.infra

OUTAGE_S = 6.0
# After a stop and start the pool finds the server within its reconnect attempt (seconds), and
# calls meanwhile fail fast; after a restart (no call in between) the first call succeeds.
RECOVERY_S = 5.0


@pytest.fixture
def settings(cluster: EphemeralCluster, tmp_path: Path) -> GatewaySettings:
    return GatewaySettings(data_dir=tmp_path, database_url=cluster.url, db_schema_prefix=f"q{uuid.uuid4().hex[:8]}")


def throw(exc: Exception) -> bool:
    raise exc


def back_within(seconds: float, call: Callable[[], object]) -> None:
    """Call until it stops raising Unavailable; fail if that takes longer than `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            call()
            return
        except Unavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def sign_up(accounts: AccountStore) -> str:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    accounts.create_tenant_with_owner(str(uuid.uuid4()), "t", str(uuid.uuid4()), email, "hash")
    return email


def test_the_gateway_store_carries_on_after_a_restart(cluster: EphemeralCluster, settings: GatewaySettings) -> None:
    db = SqlDatabase(settings, "gateway")
    accounts = AccountStore(db)
    before = sign_up(accounts)
    cluster.restart()
    after = sign_up(accounts)  # a transaction on the first connection after the restart
    assert accounts.user_by_email(before) is not None
    assert accounts.user_by_email(after) is not None
    assert db.one("SELECT 1") == (1,)
    db.close()


def test_the_policy_store_fails_fast_while_stopped_and_carries_on_after(
    cluster: EphemeralCluster, settings: GatewaySettings, caplog: pytest.LogCaptureFixture
) -> None:
    store = PolicyStore(SqlDatabase(settings, "policy"))
    tenant = uuid.uuid4().hex
    store.record_decision(decided(tenant))
    caplog.set_level("WARNING")
    cluster.halt()
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable):
            store.record_decision(decided(tenant))
        assert time.monotonic() - started < 5, "a call in an outage must fail within a bounded time"
        started = time.monotonic()
        with pytest.raises(Unavailable):
            store.recent_decisions(tenant, 10)
        assert time.monotonic() - started < 0.5, "once the outage is known, calls must not wait it out again"
        time.sleep(OUTAGE_S)
    finally:
        cluster.resume()
    back_within(RECOVERY_S, lambda: store.record_decision(decided(tenant)))
    assert len(store.recent_decisions(tenant, 10)) == 2
    # The pool tries to reconnect every second or so: the log says so once per interval.
    failures = [r for r in caplog.records if "connecting" in r.getMessage()]
    assert 1 <= len(failures) <= 2, [r.getMessage() for r in failures]
    store.db.close()


def test_the_gateway_answers_503_while_its_database_is_away_and_recovers(
    cluster: EphemeralCluster, settings: GatewaySettings
) -> None:
    db = SqlDatabase(settings, "gateway")
    store = GatewayStore(db)
    parts = Components(settings, store, cast(Any, None), RunFeed(), cast(Any, None), MonitorStore(db))
    http = TestClient(create_app(parts))  # no lifespan: sign-up and the store check need no bus

    def signup() -> Any:
        body = {"email": f"{uuid.uuid4().hex[:8]}@example.com", "password": "long-enough-1", "tenant_name": "t"}
        return http.post("/v1/auth/signup", json=body)

    assert signup().status_code == 201
    cluster.halt()
    try:
        refused = signup()
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert http.get("/healthz").json()["checks"]["store"] is False
    finally:
        cluster.resume()
    back_within(RECOVERY_S, lambda: signup().status_code == 201 or throw(Unavailable("still 503")))
    assert http.get("/healthz").json()["checks"]["store"] is True
    db.close()


async def dead_letters(bus: Bus, service: str) -> list[bytes]:
    """What the service dead-lettered (its consumer reads the whole stream, other tests' poison too)."""
    js = bus.broker.connection.jetstream()
    sub = await js.pull_subscribe(subjects.deadletter(service), stream=subjects.DEADLETTER_STREAM)
    found: list[bytes] = []
    try:
        while True:
            # Generous: on a loaded machine the first batch of a long stream can take seconds.
            found.extend(m.data for m in await sub.fetch(100, timeout=5))
    except TimeoutError:  # nats' own is one: nothing more to read
        return found
    finally:
        await sub.unsubscribe()


async def test_a_projection_that_hits_the_outage_is_redelivered_not_dead_lettered(
    cluster: EphemeralCluster, settings: GatewaySettings, nats_url: str
) -> None:
    store = GatewayStore(SqlDatabase(settings, "gateway"))
    service = f"test-{uuid.uuid4().hex[:8]}"
    # Few deliveries allowed: a handler failing on its own would be dead-lettered within the outage.
    bus = Bus(nats_url, service, max_deliver=3)
    runs = next(s for s in subscriptions(LiveViews(store, MonitorStore(store.db), RunFeed())) if s.subject == "run.>")
    bus.subscribe(dataclasses.replace(runs, durable=f"{service}-runs"))
    tenant = uuid.uuid4().hex
    event = RunRequested.create(
        RunRequestedPayload(question="through an outage", depth=1, max_sources=1),
        tenant_id=tenant,
        run_id=str(uuid.uuid4()),
    )
    lags: list[float] = []

    async def ticker() -> None:
        """How late the event loop wakes a sleeper: what a request would wait for the loop."""
        while True:
            started = time.monotonic()
            await asyncio.sleep(0.05)
            lags.append(time.monotonic() - started - 0.05)

    await bus.start()
    ticking = asyncio.create_task(ticker())
    try:
        await asyncio.to_thread(cluster.halt)
        try:
            await bus.publish(event)
            await asyncio.sleep(OUTAGE_S)
        finally:
            await asyncio.to_thread(cluster.resume)
        # The handler waits out the outage off the loop (a blocked loop would lag by the pool's wait).
        assert max(lags) < 1.0, f"the event loop was held {max(lags):.2f} s"

        run_id = event.run_id
        assert run_id is not None

        def applied() -> bool:
            try:
                return store.run_view(tenant, run_id) is not None
            except Unavailable:  # the pool is still finding the server again
                return False

        await eventually(applied, timeout_s=30)
        assert event.event_id.encode() not in b"".join(await dead_letters(bus, service))
        logged = store.db.query("SELECT event_id FROM run_events WHERE run_id = ?", (event.run_id,))
        assert logged == [(event.event_id,)]
    finally:
        ticking.cancel()
        await bus.stop()
        store.db.close()


def test_a_transaction_whose_connection_is_lost_applies_nothing_and_is_unavailable(
    database_url: str, tmp_path: Path
) -> None:
    db = SqlDatabase(GatewaySettings(data_dir=tmp_path, database_url=database_url), "gateway")
    db.execute("CREATE TABLE moves (x INT)")
    with pytest.raises(Unavailable), db.transaction() as tx:
        tx.execute("INSERT INTO moves VALUES (1)")
        tx.query("SELECT pg_terminate_backend(pg_backend_pid())")  # the session dies before COMMIT
    assert db.query("SELECT x FROM moves") == []  # so its caller may repeat the whole of it
    db.execute("INSERT INTO moves VALUES (2)")
    assert db.query("SELECT x FROM moves") == [(2,)]
    db.close()


def test_events_of_one_run_folded_at_once_lose_no_step(database_url: str, tmp_path: Path) -> None:
    """The gateway folds run events in worker threads (and replicas share the tables): two events
    of one run recorded at the same moment both end up in the run's view."""
    settings = GatewaySettings(data_dir=tmp_path, database_url=database_url)
    racing, calm = (
        GatewayStore(SqlDatabase(settings, "gateway")),
        GatewayStore(SqlDatabase(settings, "gateway"), "calm_"),
    )
    tenant = uuid.uuid4().hex
    for _ in range(20):
        run_id = str(uuid.uuid4())
        requested = RunRequested.create(
            RunRequestedPayload(question="two at once", depth=1, max_sources=1), tenant_id=tenant, run_id=run_id
        )
        admitted = RunAdmitted.create(RunAdmittedPayload(credits_reserved=5), tenant_id=tenant, run_id=run_id)
        start = threading.Barrier(2)

        def record(event: RunRequested | RunAdmitted, barrier: threading.Barrier = start) -> None:
            barrier.wait()
            racing.record_run_event(event)

        threads = [threading.Thread(target=record, args=(e,)) for e in (requested, admitted)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        calm.record_run_event(requested)
        calm.record_run_event(admitted)
        assert racing.run_view(tenant, run_id) == calm.run_view(tenant, run_id)
    racing.db.close()
    calm.db.close()
