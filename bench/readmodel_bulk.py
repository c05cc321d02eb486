"""A bulk rebuild of the gateway's run read model: insert every event, then fold each run once.

`GatewayStore.record_run_event` is built for the live feed: one transaction per event, which
reads back and refolds the run's whole log, so replaying a run of k events costs k(k+1)/2
event parses and k round trips of each kind. For a rebuild (`quarry replay`, a new
read-model version) the events are all at hand, so this inserts them many rows per statement
and then folds each touched run once from the table. The tables and the views it writes are
the ones `record_run_event` writes for the same events (the benchmark checks that), because
`fold_run` sorts by event id and so does not depend on the order of arrival.

Bench-only for now: it reaches into the store's table names and would belong in
`services/gateway/store.py` as a `rebuild` path if adopted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from contracts.envelope import Event
from services.gateway.readmodel import fold_run
from services.gateway.store import RUN_EVENT_PREFIXES, GatewayStore

# Rows per INSERT: SQLite allows 32766 bound parameters per statement, PostgreSQL 65535.
ROWS_PER_STATEMENT = 500
RUNS_PER_FOLD = 200


def bulk_record_run_events(store: GatewayStore, events: Iterable[Event]) -> int:
    """Add the events to the run log and refold every run they touch; returns how many were new.

    Already-recorded events are skipped (ON CONFLICT DO NOTHING), and each touched run is
    refolded from everything the table holds for it, so running it twice, or over tables
    that already have some of the events, converges on the same views.
    """
    rows: list[tuple[str, str, str, str, str, str]] = []
    user_of_run: dict[str, str | None] = {}
    for event in events:
        if not event.run_id or not event.type.startswith(RUN_EVENT_PREFIXES):
            continue
        rows.append(
            (
                event.event_id,
                event.run_id,
                event.tenant_id,
                event.type,
                event.occurred_at.isoformat(),
                event.model_dump_json(),
            )
        )
        if event.type == "run.requested":
            user_of_run[event.run_id] = event.actor.user_id
        else:
            user_of_run.setdefault(event.run_id, None)
    inserted = 0
    db = store.db
    for chunk in _chunks(rows, ROWS_PER_STATEMENT):
        values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk))
        with db.transaction() as tx:
            inserted += tx.execute(
                f"INSERT INTO {store.run_events} (event_id, run_id, tenant_id, type, occurred_at, data)"
                f" VALUES {values} ON CONFLICT (event_id) DO NOTHING",
                [value for row in chunk for value in row],
            )
    for run_ids in _chunks(list(user_of_run), RUNS_PER_FOLD):
        marks = ", ".join(["?"] * len(run_ids))
        logged: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in run_ids}
        tenant_of: dict[str, str] = {}
        for run_id, tenant_id, data in db.query(
            f"SELECT run_id, tenant_id, data FROM {store.run_events} WHERE run_id IN ({marks})", run_ids
        ):
            logged[run_id].append(json.loads(data))
            tenant_of[run_id] = tenant_id
        # Split by whether the run's request is logged: only then does its time replace the
        # created_at already in the row (a stand-in, as on the live path).
        requested: list[tuple[Any, ...]] = []
        not_requested: list[tuple[Any, ...]] = []
        for run_id, run_events in logged.items():
            view = fold_run(run_events)
            row = (
                run_id,
                tenant_of[run_id],
                user_of_run[run_id],
                view["state"],
                json.dumps(view),
                view["created_at"] or _now(),
                view["updated_at"] or _now(),
            )
            (requested if view["created_at"] else not_requested).append(row)
        for views, created_at in ((requested, "excluded.created_at"), (not_requested, f"{store.runs}.created_at")):
            if not views:
                continue
            values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(views))
            with db.transaction() as tx:
                tx.execute(
                    f"INSERT INTO {store.runs} (run_id, tenant_id, user_id, state, view, created_at, updated_at)"
                    f" VALUES {values} ON CONFLICT (run_id) DO UPDATE SET state = excluded.state,"
                    f" view = excluded.view, updated_at = excluded.updated_at,"
                    f" user_id = COALESCE({store.runs}.user_id, excluded.user_id), created_at = {created_at}",
                    [value for row in views for value in row],
                )
    return inserted


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
