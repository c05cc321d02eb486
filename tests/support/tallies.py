"""A small eventsourcing application on a real SQLite event store, committed in groups: tallies
that units of work add items to."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

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


# The app, its group commit, and the aggregates of each commit, in order.
Store = tuple[Tallies, GroupCommit, list[list[Any]]]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    app = tallies_app(tmp_path)
    after: list[list[Any]] = []
    group = GroupCommit(app, after_commit=lambda aggregates: after.append(list(aggregates)))
    app.group = group
    return app, group, after
