"""The gateway's read models catch up with the event stream by themselves (issue 11, item 5).

On a NATS server of the test's own (with the services' users, so the gateway reads as itself,
within its permissions) and real PostgreSQL: events the gateway's consumers dead-lettered while
its store was broken, and events published while its store is stopped, end up in its views
without an operator, and the views equal a fresh replay of the stream.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest
from fastapi import FastAPI

from contracts import subjects
from contracts.document import (
    DocumentIndexed,
    DocumentIndexedPayload,
    DocumentUploaded,
    DocumentUploadedPayload,
)
from contracts.envelope import Event
from contracts.task import TaskSucceeded
from contracts.usage import UsageRecorded, UsageRecordedPayload
from devtools.pgserver import EphemeralCluster
from devtools.replay import rebuild
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.errors import Rejected, Unavailable
from services.gateway.api.deps import Components
from services.gateway.bootstrap import build as build_gateway
from services.gateway.readmodels.catchup import PROJECTIONS
from services.gateway.readmodels.positions import Positions
from services.gateway.readmodels.projection import CONSUMERS, SUBJECT_PREFIXES
from services.gateway.settings import GatewaySettings
from tests.servers import PrivateNats, private_nats
from tests.support.polling import eventually
from tests.support.runs_fixture import gateway_events, generate

pytestmark = pytest.mark.infra

CATCH_UP_BUDGET_S = 90.0  # generous: two cores shared by several test runs


@pytest.fixture
def own_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateNats]:
    """A server for this test alone: the replay compares everything in the stream with the views."""
    with private_nats(tmp_path_factory.mktemp("catchup-nats")) as server:
        yield server


def gateway_settings(bus: PrivateNats, database_url: str | None, data_dir: Path) -> GatewaySettings:
    return GatewaySettings(
        data_dir=data_dir,
        nats_url=bus.url,
        nats_user="gateway",
        nats_password=bus.passwords["gateway"],
        database_url=database_url,
        db_schema_prefix=f"c{uuid.uuid4().hex[:8]}",
        catchup_check_s=0.5,  # a pass when one is due, without waiting for the default check
        catchup_interval_s=3600,  # and none on the clock: each pass here is one something called for
    )


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[Components]:
    async with app.router.lifespan_context(app):
        parts: Components = app.state.components
        yield parts


def for_the_gateway(events: list[Event]) -> list[Event]:
    return [e for e in events if e.SUBJECT.startswith(SUBJECT_PREFIXES)]


async def dead_letters(url: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(
            subjects.DEADLETTER_STREAM, subjects_filter=subjects.deadletter("gateway")
        )
        return sum((info.state.subjects or {}).values())
    finally:
        await nc.close()


async def until(what: str, check: Callable[[], Awaitable[bool]], budget_s: float = CATCH_UP_BUDGET_S) -> float:
    """Poll `check` until it holds; returns how long that took."""
    started = time.monotonic()
    await eventually(check, budget_s, what, every_s=0.2)
    return time.monotonic() - started


async def views_complete(parts: Components, run_ids: list[str]) -> bool:
    try:
        rows = await asyncio.to_thread(parts.store.run_rows)
    except Unavailable:  # the pool is still finding the server again
        return False
    return all(run_id in rows and rows[run_id]["state"] == "completed" for run_id in run_ids)


async def replay_identical(bus: PrivateNats, settings: GatewaySettings) -> None:
    # As the operator: a replay reads the whole stream through a consumer no service may create.
    report = await rebuild(
        settings.model_copy(update={"nats_url": bus.admin_url, "nats_user": None, "nats_password": None})
    )
    assert report.identical, report.differences[:10]
    assert report.runs_rebuilt > 0


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """The gateway's store: the embedded default, or a fresh PostgreSQL database."""
    return str(request.getfixturevalue("database_url")) if request.param == "postgres" else None


async def test_events_dead_lettered_for_the_gateway_reach_its_views_by_themselves(
    own_nats: PrivateNats, store_url: str | None, tmp_path: Path
) -> None:
    fixture = generate(3, seed=21)
    tenant = uuid.uuid4().hex
    document_id = uuid.uuid4().hex
    upload = DocumentUploaded.create(
        DocumentUploadedPayload(document_id=document_id, title="notes", content_type="text/plain", content="x"),
        tenant_id=tenant,
    )
    indexed = DocumentIndexed.create(DocumentIndexedPayload(document_id=document_id, chunks=2), tenant_id=tenant)
    runs = gateway_events(fixture)
    # What each task used, as its worker reports it: part of its run's log (the inspector's usage).
    usage = [
        UsageRecorded.caused_by(
            ev, UsageRecordedPayload(task_id=ev.payload.task_id, kind=ev.payload.kind, tool="llm_generate", tokens_in=9)
        )
        for ev in runs
        if isinstance(ev, TaskSucceeded)
    ]
    assert usage
    events = [*runs, *usage, upload, indexed]
    expected = len(for_the_gateway(events))
    # The gateway's own consumers, as a gateway whose store kept failing left them: every one of
    # these events dead-lettered (and so acknowledged) by the bus, none of them in the views.
    broken = Bus(own_nats.admin_url, "gateway")

    async def store_broken(_: Event) -> None:
        raise Rejected("the connection is lost")

    for consumer in CONSUMERS:
        broken.subscribe(Subscription(consumer.subject, consumer.durable, store_broken))
    await broken.start()
    try:
        for event in events:
            await broken.publish(event)

        async def all_dead_lettered() -> bool:
            return await dead_letters(own_nats.admin_url) >= expected

        await until("the broken gateway's dead letters", all_dead_lettered)
    finally:
        await broken.stop()

    settings = gateway_settings(own_nats, store_url, tmp_path / "gateway")
    async with running(build_gateway(settings)) as parts:
        took = await until("the dead-lettered runs in the views", lambda: views_complete(parts, fixture.run_ids))
        assert parts.catchup is not None
        catchup = parts.catchup

        async def passed() -> bool:
            return catchup.passes >= 1

        await until("the first pass to end", passed)
        first = catchup.last
        assert first is not None and first.new_run_events == expected - 2  # all but the document's
        documents = await asyncio.to_thread(parts.store.list_documents, tenant)
        assert [(d["document_id"], d["status"], d["chunks"]) for d in documents] == [(document_id, "indexed", 2)]
        used = usage[0]
        log = await asyncio.to_thread(parts.store.run_events_of, used.tenant_id, used.run_id or "")
        assert used.event_id in {e["event_id"] for e in log if e["type"] == "usage.recorded"}
        views = await asyncio.to_thread(parts.store.run_rows)
        # Applying everything again (positions lost, a backup of older positions) changes nothing.
        await asyncio.to_thread(parts.store.db.execute, "DELETE FROM projection_positions")
        again = await catchup.catch_up(parts.bus.broker.connection.jetstream())
        assert again.read == expected and again.new_run_events == 0
        assert await asyncio.to_thread(parts.store.run_rows) == views
        assert await asyncio.to_thread(parts.store.list_documents, tenant) == documents
        positions = await asyncio.to_thread(Positions(parts.store.db).all)
        assert set(positions) == {projection for projection, _ in PROJECTIONS}
        print(f"caught up {expected} dead-lettered events in {took:.1f}s ({first.seconds:.2f}s pass)")
    await replay_identical(own_nats, settings)

    # A restart resumes from the stored positions: the start-up pass has nothing left to read.
    async with running(build_gateway(settings)) as parts:
        assert parts.catchup is not None
        catchup = parts.catchup
        await until("the start-up pass after a restart", passed)
        assert catchup.last is not None and catchup.last.read == 0
        assert catchup.last.positions == positions

        # A message dead-lettered for the gateway calls for a pass (it may be one the views lack).
        nc = await nats.connect(own_nats.admin_url)
        try:
            await nc.jetstream().publish(
                subjects.deadletter("gateway"),
                events[0].to_bytes(),
                headers={"Quarry-Reason": "a test", "Quarry-Subject": events[0].SUBJECT},
                stream=subjects.DEADLETTER_STREAM,
            )
        finally:
            await nc.close()

        async def passed_again() -> bool:
            return catchup.passes >= 2

        await until("a pass after a dead letter", passed_again)


async def test_events_published_while_the_store_is_stopped_reach_the_views(
    own_nats: PrivateNats, cluster: EphemeralCluster, tmp_path: Path
) -> None:
    before, during = generate(2, seed=31), generate(4, seed=32)
    settings = gateway_settings(own_nats, cluster.url, tmp_path / "gateway")
    publisher = Bus(own_nats.admin_url, "test")
    await publisher.start()
    try:
        async with running(build_gateway(settings)) as parts:
            for event in gateway_events(before):
                await publisher.publish(event)
            await until("the runs before the outage", lambda: views_complete(parts, before.run_ids))
            catchup = parts.catchup
            assert catchup is not None

            async def started() -> bool:
                return catchup.passes >= 1

            # The start-up pass ends before the outage: the next one is what the store's return calls for.
            await until("the start-up pass", started)
            await asyncio.to_thread(cluster.halt)
            try:
                for event in gateway_events(during):
                    await publisher.publish(event)
                await asyncio.sleep(3)  # the live consumers meet the outage
            finally:
                await asyncio.to_thread(cluster.resume)
            took = await until(
                "the runs published during the outage", lambda: views_complete(parts, before.run_ids + during.run_ids)
            )
            print(f"views complete {took:.1f}s after PostgreSQL came back")
            assert await dead_letters(own_nats.admin_url) == 0, "an outage is not the messages' fault"

            async def checked_after_the_outage() -> bool:
                return catchup.passes >= 2  # the start-up pass, and the one the store's return called for

            await until("a pass after the store came back", checked_after_the_outage)
    finally:
        await publisher.stop()
    await replay_identical(own_nats, settings)
