"""Group commit on a real SQLite event store: grouping, continuing from staged state, taint, conflicts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import OperationalError

from quarry_runtime.errors import Unavailable
from quarry_runtime.groupcommit import CommitFailed, GroupCommit


class Tally(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.items: list[str] = []

    @event("Added")
    def add(self, item: str) -> None:
        self.items.append(item)


class Tallies(Application[UUID]):
    group: GroupCommit | None = None

    def load(self, tally_id: UUID) -> Tally:
        staged = self.group.get(tally_id) if self.group is not None else None
        tally: Tally = staged if staged is not None else self.repository.get(tally_id)
        return tally

    def put(self, tally: Tally) -> None:
        if self.group is not None and self.group.active:
            self.group.stage(tally)
        else:
            self.save(tally)


def _app(tmp_path: Path, name: str = "tallies.db") -> Tallies:
    return Tallies(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / name)},
    )


async def _handle(app: Tallies, group: GroupCommit, tally_id: UUID, item: str, fail: bool = False) -> None:
    with group.unit() as unit:
        tally = app.load(tally_id)
        tally.add(item)
        if fail:
            raise ValueError("the use case failed after changing the tally")
        app.put(tally)
    await unit.committed()


@pytest.fixture
def store(tmp_path: Path) -> tuple[Tallies, GroupCommit, list[list[Any]]]:
    app = _app(tmp_path)
    after: list[list[Any]] = []
    group = GroupCommit(app, after_commit=lambda aggregates: after.append(list(aggregates)))
    app.group = group
    return app, group, after


async def test_units_handled_together_commit_once(store: tuple[Tallies, GroupCommit, list[list[Any]]]) -> None:
    app, group, after = store
    tallies = [Tally(name=f"t{i}") for i in range(5)]
    app.save(*tallies)
    writer = asyncio.create_task(group.run())
    try:
        await asyncio.gather(*(_handle(app, group, t.id, f"item-{n}") for n in range(4) for t in tallies))
    finally:
        writer.cancel()
    assert group.commits == 1, "twenty units ready in the same turn are one transaction"
    assert group.events == 20
    assert len(after) == 1 and {a.id for a in after[0]} == {t.id for t in tallies}
    for tally in tallies:
        stored: Tally = app.repository.get(tally.id)
        assert stored.items == [f"item-{n}" for n in range(4)]
        assert stored.version == 5


async def test_a_unit_continues_from_what_an_earlier_unit_staged(
    store: tuple[Tallies, GroupCommit, list[list[Any]]],
) -> None:
    app, group, _ = store
    tally = Tally(name="t")
    app.save(tally)
    first, second = asyncio.create_task(_handle(app, group, tally.id, "a")), None
    await asyncio.sleep(0)  # the first unit has staged; nothing is committed yet
    assert app.repository.get(tally.id).items == []
    second = asyncio.create_task(_handle(app, group, tally.id, "b"))
    await asyncio.sleep(0)
    group.commit()
    await asyncio.gather(first, second)
    assert app.repository.get(tally.id).items == ["a", "b"]
    assert group.commits == 1


async def test_a_failing_unit_taints_what_it_changed_and_spares_the_rest(
    store: tuple[Tallies, GroupCommit, list[list[Any]]],
) -> None:
    app, group, _ = store
    shared, other = Tally(name="shared"), Tally(name="other")
    app.save(shared, other)
    ok_shared = asyncio.create_task(_handle(app, group, shared.id, "kept?"))
    ok_other = asyncio.create_task(_handle(app, group, other.id, "kept"))
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="failed after changing"):
        await _handle(app, group, shared.id, "poison", fail=True)
    group.commit()
    with pytest.raises(CommitFailed):
        await ok_shared  # staged the tainted aggregate: redelivered and applied again
    await ok_other
    assert app.repository.get(shared.id).items == []
    assert app.repository.get(other.id).items == ["kept"]


async def test_a_unit_that_fails_before_changing_anything_taints_nothing(
    store: tuple[Tallies, GroupCommit, list[list[Any]]],
) -> None:
    app, group, _ = store
    tally = Tally(name="t")
    app.save(tally)
    staged = asyncio.create_task(_handle(app, group, tally.id, "a"))
    await asyncio.sleep(0)
    with pytest.raises(LookupError), group.unit():
        app.load(tally.id)
        raise LookupError("not ready yet")
    group.commit()
    await staged
    assert app.repository.get(tally.id).items == ["a"]


async def test_a_version_conflict_fails_only_the_units_of_that_aggregate(
    tmp_path: Path, store: tuple[Tallies, GroupCommit, list[list[Any]]]
) -> None:
    app, group, _ = store
    contested, calm = Tally(name="contested"), Tally(name="calm")
    app.save(contested, calm)
    loser = asyncio.create_task(_handle(app, group, contested.id, "mine"))
    winner_too = asyncio.create_task(_handle(app, group, calm.id, "fine"))
    await asyncio.sleep(0)
    # Another replica (its own application on the same database) writes the contested tally first.
    replica = _app(tmp_path)
    theirs: Tally = replica.repository.get(contested.id)
    theirs.add("theirs")
    replica.save(theirs)
    group.commit()
    with pytest.raises(CommitFailed, match="commit failed"):
        await loser
    await winner_too
    assert app.repository.get(contested.id).items == ["theirs"]
    assert app.repository.get(calm.id).items == ["fine"]


async def test_creating_an_aggregate_that_exists_fails_only_its_unit(
    store: tuple[Tallies, GroupCommit, list[list[Any]]],
) -> None:
    app, group, _ = store
    existing = Tally(name="first")
    app.save(existing)
    calm = Tally(name="calm")
    app.save(calm)

    async def create_again() -> None:
        with group.unit() as unit:
            twin = Tally(name="twin")
            twin._id = existing.id  # the same id, as a redelivered create would make it
            for pending in twin.pending_events:
                object.__setattr__(pending, "originator_id", existing.id)
            app.put(twin)
        await unit.committed()

    duplicate = asyncio.create_task(create_again())
    fine = asyncio.create_task(_handle(app, group, calm.id, "x"))
    await asyncio.sleep(0)
    group.commit()
    with pytest.raises(CommitFailed):
        await duplicate
    await fine
    assert app.repository.get(existing.id).name == "first"
    assert app.repository.get(calm.id).items == ["x"]


async def test_outside_a_unit_saves_commit_at_once(tmp_path: Path) -> None:
    app = _app(tmp_path, "plain.db")
    app.group = GroupCommit(app)
    tally = Tally(name="t")
    app.put(tally)
    assert app.repository.get(tally.id).name == "t"
    with pytest.raises(RuntimeError, match="outside a unit"):
        app.group.stage(tally)


async def test_a_query_waits_until_what_is_staged_is_committed(
    store: tuple[Tallies, GroupCommit, list[list[Any]]],
) -> None:
    app, group, _ = store
    tally = Tally(name="t")
    app.save(tally)
    handled = asyncio.create_task(_handle(app, group, tally.id, "a"))
    await asyncio.sleep(0)  # staged, not committed
    query = asyncio.create_task(group.settled(tally.id))
    await asyncio.sleep(0)
    assert not query.done(), "a query must not read a change the commit may still take back"
    group.commit()
    await asyncio.wait_for(query, timeout=1)
    await handled
    assert app.repository.get(tally.id).items == ["a"]
    await asyncio.wait_for(group.settled(tally.id), timeout=1)  # nothing staged: at once


async def test_a_query_under_a_steady_stream_of_units_stops_waiting(
    store: tuple[Tallies, GroupCommit, list[list[Any]]],
) -> None:
    app, group, _ = store
    tally = Tally(name="t")
    app.save(tally)
    writer = asyncio.create_task(group.run())
    stop = asyncio.Event()

    async def stream() -> None:
        n = 0
        while not stop.is_set():
            await _handle(app, group, tally.id, f"i{n}")
            n += 1

    streams = [asyncio.create_task(stream()) for _ in range(3)]
    try:
        await asyncio.sleep(0.01)
        await asyncio.wait_for(group.settled(tally.id, rounds=3), timeout=5)
    finally:
        stop.set()
        await asyncio.gather(*streams)
        writer.cancel()


async def test_an_outage_fails_every_unit_as_unavailable_and_nothing_stays_staged(
    store: tuple[Tallies, GroupCommit, list[list[Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database away (at commit, or while a use case loads) is not the messages' fault:
    their units raise Unavailable, which the bus waits out instead of dead-lettering."""
    app, group, after = store
    a, b = Tally(name="a"), Tally(name="b")
    app.save(a, b)
    handled = [asyncio.create_task(_handle(app, group, t.id, "x")) for t in (a, b)]
    await asyncio.sleep(0)

    def away(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("connection refused")

    monkeypatch.setattr(app, "_record", away)
    group.commit()
    for task in handled:
        with pytest.raises(Unavailable, match="connection refused"):
            await task
    assert after == []
    monkeypatch.setattr(app.repository, "get", away)
    with pytest.raises(Unavailable):
        await _handle(app, group, a.id, "y")
    monkeypatch.undo()
    assert not group._staged
    back = asyncio.create_task(_handle(app, group, a.id, "z"))  # applied to what the store holds
    await asyncio.sleep(0)
    group.commit()
    await back
    assert app.repository.get(a.id).items == ["z"]


async def _handle_once(app: Tallies, group: GroupCommit, tally_id: UUID, item: str) -> bool:
    """An idempotent use case: adds `item` unless the tally has it; True when it changed something."""
    with group.unit() as unit:
        tally = app.load(tally_id)
        changed = item not in tally.items
        if changed:
            tally.add(item)
            app.put(tally)
    await unit.committed()
    return changed


async def test_a_unit_that_finds_its_work_staged_waits_for_that_commit(
    store: tuple[Tallies, GroupCommit, list[list[Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redelivered message that finds its effect in another unit's staged (uncommitted) state
    stages nothing; it must still not be acknowledged before that state is durable, and when
    the commit fails it is retried with the unit that staged it."""
    app, group, _ = store
    tally = Tally(name="t")
    app.save(tally)
    first = asyncio.create_task(_handle_once(app, group, tally.id, "a"))
    await asyncio.sleep(0)
    duplicate = asyncio.create_task(_handle_once(app, group, tally.id, "a"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not duplicate.done(), "nothing is committed yet: the duplicate's ack must wait"

    def away(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("connection refused")

    monkeypatch.setattr(app, "_record", away)
    group.commit()
    for task in (first, duplicate):
        with pytest.raises(Unavailable):
            await task
    monkeypatch.undo()
    assert app.repository.get(tally.id).items == []
    # Both redelivered: the item is applied once, and both acks follow the commit.
    retried = [asyncio.create_task(_handle_once(app, group, tally.id, "a")) for _ in range(2)]
    await asyncio.sleep(0)
    group.commit()
    assert sorted(await asyncio.gather(*retried)) == [False, True]
    assert app.repository.get(tally.id).items == ["a"]


async def test_a_reader_that_fails_leaves_no_unit_behind(
    store: tuple[Tallies, GroupCommit, list[list[Any]]],
) -> None:
    app, group, _ = store
    tally = Tally(name="t")
    app.save(tally)
    staged = asyncio.create_task(_handle_once(app, group, tally.id, "a"))
    await asyncio.sleep(0)
    with pytest.raises(LookupError), group.unit():
        app.load(tally.id)
        raise LookupError("rejected on its own content")
    assert len(group._units[tally.id]) == 1, "only the unit that staged waits for the commit"
    group.commit()
    assert await staged


async def test_a_commit_that_breaks_unexpectedly_leaves_no_unit_waiting(
    store: tuple[Tallies, GroupCommit, list[list[Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug or surprise past the recorder (here: snapshots) must not strand the units: their
    messages would be kept in progress by the bus's heartbeat and never acknowledged or retried."""
    app, group, _ = store
    tally = Tally(name="t")
    app.save(tally)
    handled = asyncio.create_task(_handle_once(app, group, tally.id, "a"))
    await asyncio.sleep(0)

    def broken(*args: Any) -> None:
        raise RuntimeError("a surprise after the commit")

    monkeypatch.setattr(group, "_commit", broken)
    group.commit()
    with pytest.raises(CommitFailed, match="a surprise"):
        await asyncio.wait_for(handled, 5)
    monkeypatch.undo()
    assert not group._staged and not group._units
