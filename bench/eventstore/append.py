"""2. Append: the generated saves one event per commit, one bus event per commit, and in group
commits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from eventsourcing.domain import DomainEventProtocol

from bench.eventstore.stores import APPEND_MODES, APPEND_ROUNDS, Append, Backend, store_orchestrator
from quarry_runtime.groupcommit import GroupCommit
from services.orchestrator.application import Orchestrator

# -- 2. append ---------------------------------------------------------------------------------


def first_events(saves: Sequence[list[DomainEventProtocol[Any]]], count: int) -> list[list[DomainEventProtocol[Any]]]:
    """Whole saves, in order, until they hold at least `count` events."""
    chosen: list[list[DomainEventProtocol[Any]]] = []
    total = 0
    for save in saves:
        if total >= count:
            break
        chosen.append(save)
        total += len(save)
    return chosen


def measure_append(backend: Backend, saves: Sequence[list[DomainEventProtocol[Any]]]) -> list[Append]:
    """Each way into a fresh store, the best of `APPEND_ROUNDS` rounds that alternate the ways (a
    noisy neighbour only ever slows a round down, so the best is the least disturbed)."""
    expected = sum(map(len, saves))
    best: dict[int, Append] = {}
    for round_ in range(APPEND_ROUNDS):
        for n, (mode, per_commit) in enumerate(APPEND_MODES):
            app = store_orchestrator(backend, f"append{round_}_{n}")
            try:
                started = time.perf_counter()
                commits = _append_one_way(app, saves, per_commit)
                seconds = time.perf_counter() - started
                stored = app.recorder.max_notification_id() == expected
            finally:
                app.close()
            found = Append(backend.name, mode, expected, commits, seconds, stored)
            if n not in best or not stored or (best[n].stored and seconds < best[n].seconds):
                best[n] = found
    return [best[n] for n in range(len(APPEND_MODES))]


def _append_one_way(app: Orchestrator, saves: Sequence[list[DomainEventProtocol[Any]]], per_commit: int) -> int:
    """Save `saves` as the mode says; returns the number of commits."""
    if per_commit == 0:
        for save in saves:
            for domain_event in save:
                app.save(domain_event)
        return sum(map(len, saves))
    if per_commit == 1:
        for save in saves:
            app.save(*save)
        return len(saves)
    return asyncio.run(_group_commits(app, saves, per_commit))


async def _group_commits(app: Orchestrator, saves: Sequence[list[DomainEventProtocol[Any]]], per_commit: int) -> int:
    """`per_commit` handled bus events at a time staged as units, then one group commit, as the
    orchestrator's consumers do when a fetch brings that many messages."""
    group = GroupCommit(app)
    for start in range(0, len(saves), per_commit):
        units = []
        for save in saves[start : start + per_commit]:
            with group.unit() as unit:
                staged = group.get(save[0].originator_id)
                if staged is not None:
                    staged.pending_events.extend(save)  # a run whose earlier change waits in this group
                else:
                    group.stage(_Recorded(save))
            units.append(unit)
        group.commit()
        for unit in units:
            await unit.committed()
    return group.commits


class _Recorded:
    """One run's new events, as a use case leaves them on the Run before the save; the
    generated runs' objects are gone, their events are what the benchmark appends."""

    def __init__(self, events: list[DomainEventProtocol[Any]]) -> None:
        self.id = events[0].originator_id
        self.pending_events = list(events)

    def collect_events(self) -> list[DomainEventProtocol[Any]]:
        collected, self.pending_events = self.pending_events, []
        return collected
