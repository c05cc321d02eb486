"""Group commit when things break: an outage, a unit that finds its work staged, a reader or a
commit that fails, and no unit is left waiting."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest

from quarry_runtime.errors import Unavailable
from quarry_runtime.groupcommit import CommitFailed, GroupCommit
from tests.support.tallies import Store, Tallies, database_away, handle, staged, staged_each, store

__all__ = ["store"]  # the fixture


async def test_an_outage_fails_every_unit_as_unavailable_and_nothing_stays_staged(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database away (at commit, or while a use case loads) is not the messages' fault:
    their units raise Unavailable, which the bus waits out instead of dead-lettering."""
    app, group, after = store
    (a, first), (_, second) = await staged_each(app, group, "x", "x")
    handled = [first, second]
    monkeypatch.setattr(app, "_record", database_away)
    group.commit()
    for task in handled:
        with pytest.raises(Unavailable, match="connection refused"):
            await task
    assert after == []
    monkeypatch.setattr(app.repository, "get", database_away)
    with pytest.raises(Unavailable):
        await handle(app, group, a.id, "y")
    monkeypatch.undo()
    assert not group._staged
    back = asyncio.create_task(handle(app, group, a.id, "z"))  # applied to what the store holds
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
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redelivered message that finds its effect in another unit's staged (uncommitted) state
    stages nothing; it must still not be acknowledged before that state is durable, and when
    the commit fails it is retried with the unit that staged it."""
    app, group, _ = store
    tally, first = await staged(app, group, "a", _handle_once)
    duplicate = asyncio.create_task(_handle_once(app, group, tally.id, "a"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not duplicate.done(), "nothing is committed yet: the duplicate's ack must wait"
    monkeypatch.setattr(app, "_record", database_away)
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


async def test_a_reader_that_fails_leaves_no_unit_behind(store: Store) -> None:
    app, group, _ = store
    tally, pending = await staged(app, group, "a", _handle_once)
    with pytest.raises(LookupError), group.unit():
        app.load(tally.id)
        raise LookupError("rejected on its own content")
    assert len(group._units[tally.id]) == 1, "only the unit that staged waits for the commit"
    group.commit()
    assert await pending


async def test_a_commit_that_breaks_unexpectedly_leaves_no_unit_waiting(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug or surprise past the recorder (here: snapshots) must not strand the units: their
    messages would be kept in progress by the bus's heartbeat and never acknowledged or retried."""
    app, group, _ = store
    _, handled = await staged(app, group, "a", _handle_once)

    def broken(*args: Any) -> None:
        raise RuntimeError("a surprise after the commit")

    monkeypatch.setattr(group, "_commit", broken)
    group.commit()
    with pytest.raises(CommitFailed, match="a surprise"):
        await asyncio.wait_for(handled, 5)
    monkeypatch.undo()
    assert not group._staged and not group._units
