"""3. Read models: the gateway's run views built live, event by event, and in bulk."""

from __future__ import annotations

import time
from collections.abc import Sequence

from bench.eventstore.stores import Backend, ReadModel
from contracts.envelope import Event
from quarry_runtime.store import SqlDatabase
from services.gateway.readmodels.store import GatewayStore

# -- 3. read models ----------------------------------------------------------------------------


def runs_covering(envelopes: Sequence[Event], count: int) -> set[str]:
    """The first runs (in event order) whose events add up to at least `count`."""
    sizes: dict[str, int] = {}
    for envelope in envelopes:
        if envelope.run_id:
            sizes[envelope.run_id] = sizes.get(envelope.run_id, 0) + 1
    chosen: set[str] = set()
    total = 0
    for run_id, size in sizes.items():
        if total >= count:
            break
        chosen.add(run_id)
        total += size
    return chosen


def measure_readmodels(
    backend: Backend, envelopes: Sequence[Event], live: Sequence[Event], live_runs: int
) -> list[ReadModel]:
    db = SqlDatabase(backend.settings("readmodels"), "gateway")
    if db.is_postgres:
        # As `quarry replay` rebuilds: into tables thrown away afterwards, a WAL flush per commit buys nothing.
        db.execute("SET synchronous_commit TO off")
    stores = {
        "live": GatewayStore(db, prefix="bench_live_"),
        "check": GatewayStore(db, prefix="bench_check_"),
        "all": GatewayStore(db, prefix="bench_"),
    }
    try:
        started = time.perf_counter()
        for envelope in live:
            stores["live"].record_run_event(envelope)
        live_s = time.perf_counter() - started
        started = time.perf_counter()
        stores["check"].record_run_events(live)
        check_s = time.perf_counter() - started
        started = time.perf_counter()
        stores["all"].record_run_events(envelopes)
        all_s = time.perf_counter() - started
        live_rows = stores["live"].run_rows()
        same = live_rows == stores["check"].run_rows()
        all_runs = len(stores["all"].run_rows())
    finally:
        for store in stores.values():
            store.drop_read_models()
        db.close()
    runs = len({e.run_id for e in envelopes})
    return [
        ReadModel(backend.name, "record_run_event (live path)", len(live), live_runs, live_s, f"{len(live_rows)} runs"),
        ReadModel(backend.name, "bulk, same events", len(live), live_runs, check_s, "= live" if same else "DIFFERENT"),
        ReadModel(backend.name, "bulk, all events", len(envelopes), runs, all_s, f"{all_runs} runs"),
    ]
