"""A small eventsourcing application on a real SQLite event store, committed in groups: tallies
that units of work add items to."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import OperationalError

from quarry_runtime.groupcommit import GroupCommit


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


def tallies_app(tmp_path: Path, name: str = "tallies.db") -> Tallies:
    return Tallies(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / name)},
    )


async def handle(app: Tallies, group: GroupCommit, tally_id: UUID, item: str, fail: bool = False) -> None:
    with group.unit() as unit:
        tally = app.load(tally_id)
        tally.add(item)
        if fail:
            raise ValueError("the use case failed after changing the tally")
        app.put(tally)
    await unit.committed()


UseCase = Callable[[Tallies, GroupCommit, UUID, str], Coroutine[Any, Any, Any]]


async def staged_each(
    app: Tallies, group: GroupCommit, *items: str, use_case: UseCase = handle
) -> list[tuple[Tally, asyncio.Task[Any]]]:
    """A saved tally for each item, and the task of a unit that has staged the item on it; nothing
    is committed yet."""
    tallies = [Tally(name=f"t{n}") for n in range(len(items))]
    app.save(*tallies)
    tasks = [asyncio.create_task(use_case(app, group, t.id, item)) for t, item in zip(tallies, items, strict=True)]
    await asyncio.sleep(0)
    return list(zip(tallies, tasks, strict=True))


async def staged(
    app: Tallies, group: GroupCommit, item: str = "a", use_case: UseCase = handle
) -> tuple[Tally, asyncio.Task[Any]]:
    """A saved tally and the task of a unit that has staged `item` on it; nothing is committed yet."""
    [(tally, task)] = await staged_each(app, group, item, use_case=use_case)
    return tally, task


def database_away(*args: Any, **kwargs: Any) -> Any:
    """Stands in for a recorder or repository method while the database cannot be reached."""
    raise OperationalError("connection refused")


# The app, its group commit, and the aggregates of each commit, in order.
Store = tuple[Tallies, GroupCommit, list[list[Any]]]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    app = tallies_app(tmp_path)
    after: list[list[Any]] = []
    group = GroupCommit(app, after_commit=lambda aggregates: after.append(list(aggregates)))
    app.group = group
    return app, group, after
