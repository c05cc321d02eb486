"""Group commit on a real SQLite event store: grouping, continuing from staged state, taint,
conflicts, and queries that wait for what is staged."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import pytest

from quarry_runtime.groupcommit import CommitFailed, GroupCommit
from tests.support.tallies import Store, Tally, handle, staged, staged_each, store, tallies_app

__all__ = ["store"]  # the fixture


async def test_units_handled_together_commit_once(store: Store) -> None:
    app, group, after = store
    tallies = [Tally(name=f"t{i}") for i in range(5)]
    app.save(*tallies)
    writer = asyncio.create_task(group.run())
    try:
        await asyncio.gather(*(handle(app, group, t.id, f"item-{n}") for n in range(4) for t in tallies))
    finally:
        writer.cancel()
    assert group.commits == 1, "twenty units ready in the same turn are one transaction"
    assert group.events == 20
    assert len(after) == 1 and {a.id for a in after[0]} == {t.id for t in tallies}
    for tally in tallies:
        stored: Tally = app.repository.get(tally.id)
        assert stored.items == [f"item-{n}" for n in range(4)]
        assert stored.version == 5


async def test_a_unit_continues_from_what_an_earlier_unit_staged(store: Store) -> None:
    app, group, _ = store
    tally, first = await staged(app, group, "a")  # nothing is committed yet
    assert app.repository.get(tally.id).items == []
    second = asyncio.create_task(handle(app, group, tally.id, "b"))
    await asyncio.sleep(0)
    group.commit()
    await asyncio.gather(first, second)
    assert app.repository.get(tally.id).items == ["a", "b"]
    assert group.commits == 1


async def test_a_failing_unit_taints_what_it_changed_and_spares_the_rest(store: Store) -> None:
    app, group, _ = store
    (shared, ok_shared), (other, ok_other) = await staged_each(app, group, "kept?", "kept")
    with pytest.raises(ValueError, match="failed after changing"):
        await handle(app, group, shared.id, "poison", fail=True)
    group.commit()
    with pytest.raises(CommitFailed):
        await ok_shared  # staged the tainted aggregate: redelivered and applied again
    await ok_other
    assert app.repository.get(shared.id).items == []
    assert app.repository.get(other.id).items == ["kept"]


async def test_a_unit_that_folds_into_the_last_pending_event_and_fails_taints_it(store: Store) -> None:
    """A change may put a new event object in the last pending one's place (billing folds usage
    so) instead of adding one: the count of pending events alone would not show it."""
    app, group, _ = store
    tally, first = await staged(app, group, "a")
    with pytest.raises(ValueError, match="after folding"), group.unit():
        loaded = app.load(tally.id)
        last = loaded.pending_events[-1]
        loaded.pending_events[-1] = copy.copy(last)
        loaded.items.append("folded")
        raise ValueError("failed after folding")
    group.commit()
    with pytest.raises(CommitFailed):
        await first
    assert app.repository.get(tally.id).items == []


async def test_a_unit_that_fails_before_changing_anything_taints_nothing(store: Store) -> None:
    app, group, _ = store
    tally, pending = await staged(app, group, "a")
    with pytest.raises(LookupError), group.unit():
        app.load(tally.id)
        raise LookupError("not ready yet")
    group.commit()
    await pending
    assert app.repository.get(tally.id).items == ["a"]


async def test_a_version_conflict_fails_only_the_units_of_that_aggregate(tmp_path: Path, store: Store) -> None:
    app, group, _ = store
    (contested, loser), (calm, winner_too) = await staged_each(app, group, "mine", "fine")
    # Another replica (its own application on the same database) writes the contested tally first.
    replica = tallies_app(tmp_path)
    theirs: Tally = replica.repository.get(contested.id)
    theirs.add("theirs")
    replica.save(theirs)
    group.commit()
    with pytest.raises(CommitFailed, match="commit failed"):
        await loser
    await winner_too
    assert app.repository.get(contested.id).items == ["theirs"]
    assert app.repository.get(calm.id).items == ["fine"]


async def test_creating_an_aggregate_that_exists_fails_only_its_unit(store: Store) -> None:
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
    fine = asyncio.create_task(handle(app, group, calm.id, "x"))
    await asyncio.sleep(0)
    group.commit()
    with pytest.raises(CommitFailed):
        await duplicate
    await fine
    assert app.repository.get(existing.id).name == "first"
    assert app.repository.get(calm.id).items == ["x"]


async def test_outside_a_unit_saves_commit_at_once(tmp_path: Path) -> None:
    app = tallies_app(tmp_path, "plain.db")
    app.group = GroupCommit(app)
    tally = Tally(name="t")
    app.put(tally)
    assert app.repository.get(tally.id).name == "t"
    with pytest.raises(RuntimeError, match="outside a unit"):
        app.group.stage(tally)


async def test_a_query_waits_until_what_is_staged_is_committed(store: Store) -> None:
    app, group, _ = store
    tally, handled = await staged(app, group, "a")
    query = asyncio.create_task(group.settled(tally.id))
    await asyncio.sleep(0)
    assert not query.done(), "a query must not read a change the commit may still take back"
    group.commit()
    await asyncio.wait_for(query, timeout=1)
    await handled
    assert app.repository.get(tally.id).items == ["a"]
    await asyncio.wait_for(group.settled(tally.id), timeout=1)  # nothing staged: at once


async def test_a_query_under_a_steady_stream_of_units_stops_waiting(store: Store) -> None:
    app, group, _ = store
    tally = Tally(name="t")
    app.save(tally)
    writer = asyncio.create_task(group.run())
    stop = asyncio.Event()

    async def stream() -> None:
        n = 0
        while not stop.is_set():
            await handle(app, group, tally.id, f"i{n}")
            n += 1

    streams = [asyncio.create_task(stream()) for _ in range(3)]
    try:
        await asyncio.sleep(0.01)
        await asyncio.wait_for(group.settled(tally.id, rounds=3), timeout=5)
    finally:
        stop.set()
        await asyncio.gather(*streams)
        writer.cancel()
