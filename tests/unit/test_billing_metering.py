"""Metering in groups: the usage events a group commit holds are stored as one event per ledger,
each usage event listed once; what the ledger stored one event per usage event still replays."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from contracts import subjects
from contracts.run import RunRequested
from contracts.usage import UsageRecorded
from quarry_runtime.groupcommit import GroupCommit
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.billing.application import Billing
from services.billing.handlers import subscriptions
from services.billing.ledger_runs import USAGE_PER_EVENT
from services.billing.plans import usage_credits
from tests.support.credits import POPO, completed, request, usage

EACH = usage_credits(0, 1, 0, "web_search")


@contextlib.asynccontextmanager
async def committing(tmp_path: Path) -> AsyncIterator[tuple[Billing, GroupCommit, RunRequested]]:
    """Billing on SQLite with its group commit running, and a run admitted to meter against."""
    app = Billing(env=eventstore_env(RuntimeSettings(data_dir=tmp_path), "billing"))
    group = app.group_commit(on_saved=lambda: None)
    writer = asyncio.create_task(group.run())
    try:
        req = request()
        app.admit(req)
        yield app, group, req
    finally:
        writer.cancel()
        app.close()


async def meter_together(app: Billing, uses: list[UsageRecorded]) -> None:
    """The usage subscription's handler on `uses` at once, as a fetched batch is handled."""
    (handler,) = [sub.handler for sub in subscriptions(app) if sub.subject == subjects.USAGE_RECORDED]
    await asyncio.gather(*(handler(u) for u in uses))


def stored_names(app: Billing, tenant: str = "t1") -> list[str]:
    return [type(e).__name__ for e in app.stored_entries(tenant, 0, 10_000)]


async def test_usage_handled_together_is_stored_once_per_ledger_and_replays_the_same(tmp_path: Path) -> None:
    async with committing(tmp_path) as (app, _, req):
        uses = [usage(req, i) for i in range(5)]
        await meter_together(app, uses + uses[:2])  # two redelivered while the first are staged
        await meter_together(app, uses[3:])  # and two after their commit
        (folded,) = [e for e in app.stored_entries("t1", 0, 100) if type(e).__name__ == "UsageMetered"]
        assert [item["usage_event_id"] for item in folded.usage] == [u.event_id for u in uses]
        assert {item["credits"] for item in folded.usage} == {EACH}
        cached = app.ledger("t1", copy=True)
        app.forget("t1")
        replayed = app.ledger("t1", copy=True)
        assert replayed.metered == cached.metered == {u.event_id: EACH for u in uses}
        assert replayed.reservations == cached.reservations
        assert replayed.version == cached.version
        app.close_run(completed(req, uses))
        assert app.ledger("t1").reservations[req.run_id or ""].settled == 5 * EACH


async def test_a_stored_metering_event_lists_a_bounded_number_of_usage_events(tmp_path: Path) -> None:
    async with committing(tmp_path) as (app, group, req):
        uses = [usage(req, i) for i in range(USAGE_PER_EVENT + 3)]
        await meter_together(app, uses)
        stored = [e for e in app.stored_entries("t1", 0, 1000) if type(e).__name__ == "UsageMetered"]
        assert [len(e.usage) for e in stored] == [USAGE_PER_EVENT, 3]
        assert group.commits == 1


def test_metering_between_other_entries_keeps_their_order() -> None:
    """Usage folds only into a metering event that is the ledger's last uncommitted one."""
    app = Billing(env=POPO)
    first, second = request(), request()
    ledger = app.ledger("t1")
    ledger.reserve(first.run_id or "", 10, cause=first.event_id)
    ledger.meter(first.run_id, "u1", 2, cause="u1")
    ledger.meter(first.run_id, "u2", 2, cause="u2")
    ledger.reserve(second.run_id or "", 10, cause=second.event_id)
    ledger.meter(second.run_id, "u3", 2, cause="u3")
    names = [type(e).__name__ for e in ledger.pending_events]
    assert names[-4:] == ["Reserved", "UsageMetered", "Reserved", "UsageMetered"]
    assert [e.originator_version for e in ledger.pending_events] == list(range(1, len(names) + 1))
    app.save(ledger)
    app.forget("t1")
    replayed = app.ledger("t1", copy=True)
    assert replayed.reservations[first.run_id or ""].usage == {"u1": 2, "u2": 2}
    assert replayed.reservations[second.run_id or ""].usage == {"u3": 2}
    assert replayed.bus_events >= {"u1", "u2", "u3"}


def _old_metered(ledger_id: UUID, version: int, req: RunRequested, usage_event_id: str) -> StoredEvent:
    """A `Ledger.Metered` event as ledgers stored them before `UsageMetered`: one per usage event."""
    state = (
        b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-05T10:00:00+00:00"},'
        b'"run_id":"%s","usage_event_id":"%s","credits":2,"cause":"%s","tool":"web_search"}'
        % (str(req.run_id).encode(), usage_event_id.encode(), usage_event_id.encode())
    )
    return StoredEvent(
        originator_id=ledger_id,
        originator_version=version,
        topic="services.billing.domain:Ledger.Metered",
        state=state,
    )


def test_a_ledger_stored_one_event_per_usage_still_replays_and_meters_on() -> None:
    app = Billing(env=POPO)
    req = request()
    app.admit(req)
    ledger = app.ledger("t1")
    old = [_old_metered(ledger.id, ledger.version + 1 + i, req, f"old-{i}") for i in range(2)]
    app.recorder.insert_events(old)
    app.forget("t1")
    replayed = app.ledger("t1")
    assert replayed.metered == {"old-0": 2, "old-1": 2}
    assert replayed.reservations[req.run_id or ""].usage == {"old-0": 2, "old-1": 2}
    assert replayed.metered_tools["old-0"] == "web_search" and replayed.has_seen("old-1")
    new = usage(req, 9)
    app.meter(new)
    app.meter(new)  # a redelivery
    assert stored_names(app)[-3:] == ["Metered", "Metered", "UsageMetered"]
    app.forget("t1")
    assert app.ledger("t1").metered == {"old-0": 2, "old-1": 2, new.event_id: EACH}
