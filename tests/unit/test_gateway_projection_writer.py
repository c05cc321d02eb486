"""The read-model write on the request path (`readmodels.writer`): the run events of requests under
way at once are stored in one write, each request returns once its own event is stored, and a store
that fails fails every request of its group the way it would have failed each alone. The event's
copy from the bus, come back while that write is under way, waits for it instead of writing again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from contracts.envelope import Actor, Event
from contracts.ids import new_id
from contracts.run import RunRequested, RunRequestedPayload
from quarry_runtime.errors import Unavailable
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase
from quarry_runtime.subscription import Handler
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import LiveViews, Projected, RunFeed, subscriptions
from services.gateway.readmodels.store import GatewayStore
from services.gateway.readmodels.writer import ProjectionWriter

TENANT = "tenant-1"


class CountedStore(GatewayStore):
    """Counts the group writes (and the single ones of the consumers), and fails the group writes
    while `failing` is set."""

    writes: list[int]
    singles: list[str]
    failing: bool = False

    def record_run_event(self, event: Event) -> bool:
        self.singles.append(event.event_id)
        return super().record_run_event(event)

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
    made.writes, made.singles = [], []
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


def consumer_copy(store: CountedStore, projected: Projected) -> Handler:
    """The run consumer's handler, as the Bus calls it with an event it parsed."""
    (runs,) = [
        sub
        for sub in subscriptions(LiveViews(store, MonitorStore(store.db), RunFeed(), projected=projected))
        if sub.subject.startswith("run.")
    ]
    return runs.handler


async def test_the_copy_from_the_bus_waits_for_the_write_under_way_and_writes_nothing(store: CountedStore) -> None:
    projected = Projected()
    writer = ProjectionWriter(store, MonitorStore(store.db), projected)
    event = requested()
    request = asyncio.create_task(writer.apply(event))
    await asyncio.sleep(0)  # the request's write is queued, not done
    assert not projected.take(event.event_id), "the Bus would not skip it unparsed yet"

    await consumer_copy(store, projected)(event)

    assert request.done() and store.run_view(TENANT, event.run_id or "") is not None
    assert store.writes == [1] and store.singles == [], "one write: the request's"
    await request


async def test_the_copy_from_the_bus_applies_the_event_when_the_write_under_way_fails(store: CountedStore) -> None:
    projected = Projected()
    writer = ProjectionWriter(store, MonitorStore(store.db), projected)
    event = requested()
    store.failing = True
    request = asyncio.create_task(writer.apply(event))
    await asyncio.sleep(0)

    await consumer_copy(store, projected)(event)

    with pytest.raises(Unavailable):
        await request
    assert store.singles == [event.event_id]
    view = store.run_view(TENANT, event.run_id or "")
    assert view is not None and view["state"] == "requested"


async def test_a_copy_back_before_the_publish_returned_waits_for_the_write_that_follows(store: CountedStore) -> None:
    projected = Projected()
    writer = ProjectionWriter(store, MonitorStore(store.db), projected)
    event = requested()
    writer.expect(event)  # as `api.commands.publish` does before it publishes
    copy = asyncio.ensure_future(consumer_copy(store, projected)(event))
    await asyncio.sleep(0)
    assert not copy.done(), "the copy waits for the request's write"

    await writer.apply(event)
    await copy

    assert store.writes == [1] and store.singles == []


async def test_the_copy_of_an_event_whose_publish_failed_is_applied_by_the_consumer(store: CountedStore) -> None:
    projected = Projected()
    writer = ProjectionWriter(store, MonitorStore(store.db), projected)
    event = requested()
    writer.expect(event)
    copy = asyncio.ensure_future(consumer_copy(store, projected)(event))
    await asyncio.sleep(0)

    writer.abandon(event)  # the publish raised, though the bus may have stored the event
    await copy

    assert store.writes == [] and store.singles == [event.event_id]
    assert store.run_view(TENANT, event.run_id or "") is not None
