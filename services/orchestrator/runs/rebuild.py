"""Rebuild many runs at once from the store, with a handful of queries instead of one per run.

`app.repository.get` costs a query per run and folds the run's whole history; recovering
thousands of runs (a cold start, a migration, an audit over every run) that way pays both
per run. `rebuild_runs` reads, in two queries, each run's latest snapshot and the events
recorded after it (every event of a run that has no snapshot yet), and folds only those,
with the same `mutate` calls the repository's projector makes, so each rebuilt `Run` equals
what `repository.get` returns. `fold_log` is the other road: the whole notification log in
pages, every event folded; it needs no snapshots and serves as the check.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier

from services.orchestrator.application import Orchestrator
from services.orchestrator.runs.domain import RUN_TOPIC_BEFORE_MOVE, Run

# Every Run event's topic is the aggregate's topic (now, or in stores older than its module)
# and the event class's name; the log also
# holds other aggregates' events (monitors), which are skipped before they are decoded.
RUN_EVENT_TOPIC = (get_topic(Run) + ".", f"{RUN_TOPIC_BEFORE_MOVE}.")
RUN_SNAPSHOT_TOPIC = get_topic(Run.Snapshot)

# Each run's latest snapshot, and the events after it (all of them when it has none).
_LATEST_SNAPSHOTS = (
    "SELECT s.originator_id, s.originator_version, s.topic, s.state FROM {snapshots} s "
    "JOIN (SELECT originator_id, MAX(originator_version) AS v FROM {snapshots} GROUP BY originator_id) m "
    "ON m.originator_id = s.originator_id AND m.v = s.originator_version"
)
_EVENTS_AFTER = (
    "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {events} e "
    "LEFT JOIN (SELECT originator_id, MAX(originator_version) AS v FROM {snapshots} GROUP BY originator_id) m "
    "ON m.originator_id = e.originator_id "
    "WHERE e.originator_version > COALESCE(m.v, 0) ORDER BY e.originator_id, e.originator_version"
)


def rebuild_runs(app: Orchestrator, run_ids: Iterable[str] | None = None) -> dict[str, Run]:
    """Every run in `app`'s store (or only those in `run_ids`), by run id, at its latest version."""
    if app.snapshots is None:
        return fold_log(app, run_ids)
    wanted = None if run_ids is None else {str(Run.create_id(run_id)) for run_id in run_ids}
    snapshots, tails = _read_latest(app)
    mapper = app.mapper
    folded: dict[str, Any] = {}
    for stored in snapshots:
        if stored.topic != RUN_SNAPSHOT_TOPIC:
            continue
        key = str(stored.originator_id)
        if wanted is None or key in wanted:
            snapshot: Any = mapper.to_domain_event(stored)
            folded[key] = snapshot.mutate(None)
    for stored in tails:
        if not stored.topic.startswith(RUN_EVENT_TOPIC):
            continue
        key = str(stored.originator_id)
        if wanted is not None and key not in wanted:
            continue
        domain_event: Any = mapper.to_domain_event(stored)
        # mutate checks that each event is the next version of what it applies to.
        folded[key] = domain_event.mutate(folded.get(key))
    return {run.run_id: run for run in folded.values()}


def _read_latest(app: Orchestrator) -> tuple[Sequence[StoredEvent], Sequence[StoredEvent]]:
    recorder: Any = app.recorder
    snapshot_recorder: Any = app.snapshots.recorder if app.snapshots is not None else None
    events_table, snapshots_table = recorder.events_table_name, snapshot_recorder.events_table_name
    datastore = recorder.datastore
    schema = getattr(datastore, "schema", None)
    if schema is None:  # SQLite: one file, no schemas
        with datastore.transaction(commit=False) as cursor:
            rows = []
            for statement in (_LATEST_SNAPSHOTS, _EVENTS_AFTER):
                cursor.execute(statement.format(events=events_table, snapshots=snapshots_table))
                rows.append([_stored(recorder.convert_originator_id(r[0]), r) for r in cursor.fetchall()])
            return rows[0], rows[1]
    names = {
        "events": SQL("{}.{}").format(Identifier(schema), Identifier(events_table)),
        "snapshots": SQL("{}.{}").format(Identifier(schema), Identifier(snapshots_table)),
    }
    results = []
    with datastore.get_connection() as conn, conn.cursor() as cursor:
        for statement in (_LATEST_SNAPSHOTS, _EVENTS_AFTER):
            # Binary results: the states come as bytes, not hex text twice their size to decode.
            cursor.execute(SQL(statement).format(**names), binary=True)
            results.append([_stored(row["originator_id"], tuple(row.values())) for row in cursor.fetchall()])
    return results[0], results[1]


def _stored(originator_id: Any, row: Sequence[Any]) -> StoredEvent:
    return StoredEvent(originator_id=originator_id, originator_version=row[1], topic=row[2], state=bytes(row[3]))


def fold_log(app: Orchestrator, run_ids: Iterable[str] | None = None, batch: int = 5000) -> dict[str, Run]:
    """Every run folded from the whole notification log, read in `batch`-sized pages.

    It always scans the whole log: filtering by run only skips decoding the other runs'
    events. Events appended while the scan runs may or may not be included; a run is never
    folded from a log with a hole, since `mutate` refuses an event whose version does not
    follow on.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    wanted = None if run_ids is None else {str(Run.create_id(run_id)) for run_id in run_ids}
    # Keyed by the originator id as the recorder gives it (str on SQLite, UUID on
    # PostgreSQL): converting every notification's id would cost more than the lookups.
    folded: dict[Any, Any] = {}
    skipped: set[Any] = set()
    recorder, mapper = app.recorder, app.mapper
    start = 1
    while True:
        notifications = recorder.select_notifications(start=start, limit=batch)
        for notification in notifications:
            if not notification.topic.startswith(RUN_EVENT_TOPIC):
                continue
            originator = notification.originator_id
            if wanted is not None:
                if originator in skipped:
                    continue
                if originator not in folded and str(originator) not in wanted:
                    skipped.add(originator)
                    continue
            domain_event: Any = mapper.to_domain_event(notification)
            folded[originator] = domain_event.mutate(folded.get(originator))
        if len(notifications) < batch:
            break
        start = notifications[-1].id + 1
    return {run.run_id: run for run in folded.values()}
