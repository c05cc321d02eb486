"""1. Replay: run state rebuilt from the notification log, against `repository.get` per run."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent

from bench.eventstore.stores import (
    REBUILD_BATCH,
    REPLAY_ROUNDS,
    SNAPSHOT_EVERY,
    Backend,
    Replay,
    plain_orchestrator,
    store_orchestrator,
)
from services.orchestrator.application import Orchestrator
from services.orchestrator.runs.domain import Run
from services.orchestrator.runs.rebuild import fold_log, rebuild_runs
from tests.support.runs_fixture import Fixture

# -- 1. replay ---------------------------------------------------------------------------------


def notifications_of(fixture: Fixture, run_ids: Sequence[str]) -> list[StoredEvent]:
    wanted = {Run.create_id(run_id) for run_id in run_ids}
    notes = fixture.app.recorder.select_notifications(start=1, limit=fixture.event_count() + 1)
    return [
        StoredEvent(n.originator_id, n.originator_version, n.topic, n.state) for n in notes if n.originator_id in wanted
    ]


def measure_replay(backend: Backend, notes: Sequence[StoredEvent], run_ids: Sequence[str]) -> Replay:
    app = store_orchestrator(backend, "replay")
    plain = plain_orchestrator(backend, "replay_plain")
    try:
        for store in (app, plain):
            for start in range(0, len(notes), 2000):
                store.recorder.insert_events(list(notes[start : start + 2000]))
        ids = [(run_id, Run.create_id(run_id)) for run_id in run_ids]
        expected: dict[str, Run] = {}

        def by_get() -> dict[str, Run]:
            return {run_id: app.repository.get(aggregate_id) for run_id, aggregate_id in ids}

        def by_plain_get() -> dict[str, Run]:
            return {run_id: plain.repository.get(aggregate_id) for run_id, aggregate_id in ids}

        # No snapshots yet: plain eventsourcing's repository (the baseline) and the two bulk reads.
        get_s, expected = _best(by_plain_get)
        log_s, by_log = _best(lambda: fold_log(app, batch=REBUILD_BATCH))
        bulk_s, by_bulk = _best(lambda: rebuild_runs(app))
        read_s, decode_s, fold_s = _phases(app)
        # Then the snapshots the orchestrator keeps (every 40 events and when a run ends), taken untimed.
        for _, aggregate_id in ids:
            last: int = app.repository.get(aggregate_id).version
            for version in sorted({*range(SNAPSHOT_EVERY, last + 1, SNAPSHOT_EVERY), last}):
                app.take_snapshot(aggregate_id, version=version)
        snap_bulk_s, by_snap_bulk = _best(lambda: rebuild_runs(app))
        snap_get_s, by_snap_get = _best(by_get)
    finally:
        app.close()
        plain.close()
    return Replay(
        backend.name,
        len(ids),
        len(notes),
        get_s,
        log_s,
        bulk_s,
        snap_bulk_s,
        snap_get_s,
        read_s,
        decode_s,
        fold_s,
        equal=all(_same(found, expected) for found in (by_log, by_bulk, by_snap_bulk, by_snap_get)),
    )


def _best(read: Callable[[], dict[str, Run]]) -> tuple[float, dict[str, Run]]:
    """The best time of a few rounds, and what the last round read."""
    times: list[float] = []
    found: dict[str, Run] = {}
    for _ in range(REPLAY_ROUNDS):
        started = time.perf_counter()
        found = read()
        times.append(time.perf_counter() - started)
    return min(times), found


def _same(found: dict[str, Run], expected: dict[str, Run]) -> bool:
    return found.keys() == expected.keys() and all(found[r].__dict__ == expected[r].__dict__ for r in expected)


def _phases(app: Orchestrator) -> tuple[float, float, float]:
    """fold_log's loop taken apart: reading the pages, decoding the events, folding them
    (each the best of a few passes, as the timings it explains are)."""
    best = (math.inf, math.inf, math.inf)
    for _ in range(REPLAY_ROUNDS):
        read = decode = fold = 0.0
        folded: dict[Any, Any] = {}
        start = 1
        while True:
            t0 = time.perf_counter()
            page = app.recorder.select_notifications(start=start, limit=REBUILD_BATCH)
            t1 = time.perf_counter()
            decoded: list[Any] = [app.mapper.to_domain_event(n) for n in page]
            t2 = time.perf_counter()
            for domain_event in decoded:
                folded[domain_event.originator_id] = domain_event.mutate(folded.get(domain_event.originator_id))
            t3 = time.perf_counter()
            read, decode, fold = read + t1 - t0, decode + t2 - t1, fold + t3 - t2
            if len(page) < REBUILD_BATCH:
                break
            start = page[-1].id + 1
        best = (min(best[0], read), min(best[1], decode), min(best[2], fold))
    return best
