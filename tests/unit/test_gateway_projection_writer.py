"""The read-model write on the request path (`readmodels.writer`): the run events of requests under
way at once are stored in one write, each request returns once its own event is stored, and a store
that fails fails every request of its group the way it would have failed each alone. A free SQLite
store is written on the event loop; a write lock held elsewhere sends the write to a thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from contracts.envelope import Actor, Event
from contracts.ids import new_id
from contracts.run import RunRequested, RunRequestedPayload
from quarry_runtime.errors import Unavailable
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.sqlite_faults import BUSY_TIMEOUT_MS
from quarry_runtime.store import SqlDatabase
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import Projected
from services.gateway.readmodels.store import GatewayStore
from services.gateway.readmodels.writer import ProjectionWriter

TENANT = "tenant-1"


class CountedStore(GatewayStore):
    """Counts the group writes, and fails them while `failing` is set."""

    writes: list[int]
    failing: bool = False

    def record_run_events(self, events: Iterable[Event]) -> int:
        batch = list(events)
        self.writes.append(len(batch))
        if self.failing:
            raise Unavailable("the database's volume is full")
        return super().record_run_events(batch)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountedStore]:
    db = SqlDatabase(RuntimeSettings(data_dir=tmp_path), "gateway")
    made = CountedStore(db)
    made.writes = []
    yield made
    db.close()


def requested() -> Event:
    payload = RunRequestedPayload(
        question="How does the with statement work in Python?",
        approval_required=False,
        approval_timeout_s=3600,
        pii_policy="redact",
        review_plan=False,
        depth=1,
        max_sources=1,
        sources=["corpus"],
    )
    return RunRequested.create(payload, tenant_id=TENANT, run_id=new_id(), actor=Actor(user_id="u-1", roles=["owner"]))


async def test_requests_under_way_at_once_are_stored_in_one_write(store: CountedStore) -> None:
    projected = Projected()
    writer = ProjectionWriter(store, MonitorStore(store.db), projected)
    events = [requested() for _ in range(10)]

    await asyncio.gather(*(writer.apply(event) for event in events))

    assert store.writes == [10]
    for event in events:
        view = store.run_view(TENANT, event.run_id or "")
        assert view is not None and view["state"] == "requested"
        assert projected.take(event.event_id), "the consumer's copy is skipped"


async def test_a_lone_request_is_stored_at_once_and_the_next_in_a_write_of_its_own(store: CountedStore) -> None:
    writer = ProjectionWriter(store, MonitorStore(store.db), Projected())
    first, second = requested(), requested()

    await writer.apply(first)
    assert store.run_view(TENANT, first.run_id or "") is not None
    await writer.apply(second)

    assert store.writes == [1, 1]


async def test_a_failed_write_fails_every_request_of_its_group_and_marks_none_applied(store: CountedStore) -> None:
    projected = Projected()
    writer = ProjectionWriter(store, MonitorStore(store.db), projected)
    events = [requested() for _ in range(3)]
    store.failing = True

    results = await asyncio.gather(*(writer.apply(event) for event in events), return_exceptions=True)

    assert [type(r) for r in results] == [Unavailable] * 3
    assert not any(projected.take(event.event_id) for event in events), "the consumer applies them later"
    store.failing = False
    await writer.apply(requested())
    assert store.writes == [3, 1], "the writer goes on after a failed write"


async def test_a_write_on_a_free_store_is_made_on_the_event_loop(store: CountedStore) -> None:
    threads: list[int] = []
    recorded = store.record_run_events

    def record(events: Iterable[Event]) -> int:
        threads.append(threading.get_ident())
        return recorded(events)

    store.record_run_events = record  # type: ignore[method-assign]
    writer = ProjectionWriter(store, MonitorStore(store.db), Projected())
    event = requested()

    await writer.apply(event)

    assert threads == [threading.get_ident()], "written on the loop's thread, in no trip"
    assert store.run_view(TENANT, event.run_id or "") is not None


async def test_a_write_lock_another_process_holds_sends_the_write_to_a_thread_that_waits_for_it(
    store: CountedStore, tmp_path: Path
) -> None:
    projected = Projected()
    writer = ProjectionWriter(store, MonitorStore(store.db), projected)
    event = requested()
    # Another process's connection (devtools, a replay) holding the file's write lock.
    other = sqlite3.connect(RuntimeSettings(data_dir=tmp_path).service_dir("gateway") / "state.sqlite3")
    other.isolation_level = None
    other.execute("BEGIN IMMEDIATE")

    writing = asyncio.create_task(writer.apply(event))
    await asyncio.sleep(0.2)  # the loop runs on meanwhile: this sleep ends while the write waits
    assert not writing.done(), "the write waits for the lock in its thread"
    assert store.writes == [1, 1], "tried at once on the loop, then in a trip"
    other.execute("COMMIT")
    other.close()
    await writing

    assert store.run_view(TENANT, event.run_id or "") is not None
    assert projected.take(event.event_id)
    with store.db.held_without_waiting() as held:
        assert held
    assert store.db.one("PRAGMA busy_timeout") == (BUSY_TIMEOUT_MS,), "waits again once released"
