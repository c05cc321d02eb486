"""The run read model: each run's event log, and its view folded from it (see `run_view`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from contracts.envelope import Event
from quarry_runtime.store import SqlDatabase
from services.gateway.disclosure import visible
from services.gateway.readmodels.run_view import fold_next, fold_run

RUN_EVENT_PREFIXES = ("run.", "credits.", "tool.", "task.", "report.", "approval.", "guardrail.", "usage.")
# A bulk rebuild's rows per INSERT (6 parameters each: SQLite allows 32766 a statement since
# 3.32 and 999 before, PostgreSQL 65535) and runs folded per read.
BULK_ROWS = 500 if sqlite3.sqlite_version_info >= (3, 32) else 999 // 6
BULK_RUNS = 200
T = TypeVar("T")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def run_log_of(event: Event) -> str | None:
    """The run whose log the event belongs in: the one it names, if it is of a kind the view folds."""
    return event.run_id if event.run_id and event.type.startswith(RUN_EVENT_PREFIXES) else None


def _json(value: dict[str, Any]) -> str:
    """`value` as compact JSON text: orjson's, a few times cheaper than the json module's for the
    same document; the json module's for what orjson refuses (an integer beyond 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"))


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class RunLog:
    """Writes a run's events into its log and refolds its view; the tables are named by `GatewayStore`."""

    db: SqlDatabase
    prefix: str
    runs: str
    run_events: str

    def record_run_event(self, event: Event) -> bool:
        """Add one event to its run's log and refold the run's view; False if already there."""
        if run_log_of(event) is None:
            return False
        kept = visible(event)  # as the log keeps it: tenant-visible, no tokens or raw tool output
        data = _json(kept)
        with self.db.transaction() as tx:
            if tx.is_postgres:
                # Two events of one run folded at once (two consumers' threads, two replicas) would
                # each miss the other's row and the later write would drop a step: one at a time.
                tx.query("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (event.run_id,))
            inserted = tx.execute(
                f"INSERT INTO {self.run_events} (event_id, run_id, tenant_id, type, occurred_at, data) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (event_id) DO NOTHING",
                (event.event_id, event.run_id, event.tenant_id, event.type, event.occurred_at.isoformat(), data),
            )
            if not inserted:
                return False
            view = self._next_view(tx, event, kept)
            user_id = event.actor.user_id if event.type == "run.requested" else None
            # A run first seen through a later event gets a stand-in created_at, replaced by run.requested's
            # time once that arrives, so the row does not depend on arrival order (and a rebuild matches it).
            tx.execute(
                f"INSERT INTO {self.runs} (run_id, tenant_id, user_id, state, view, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id) DO UPDATE SET state = excluded.state, view = excluded.view,"
                f" updated_at = excluded.updated_at, user_id = COALESCE({self.runs}.user_id, excluded.user_id),"
                f" created_at = COALESCE(?, {self.runs}.created_at)",
                (
                    event.run_id,
                    event.tenant_id,
                    user_id,
                    view["state"],
                    _json(view),
                    view["created_at"] or _now(),
                    view["updated_at"] or _now(),
                    view["created_at"],
                ),
            )
        return True

    def record_run_events(self, events: Iterable[Event]) -> int:
        """The bulk form of `record_run_event`, for a rebuild (`quarry replay`) and the catch-up
        from the stream: every event added to its run's log many rows a statement, and every run
        that got a new event refolded from the table, in the same transaction. Returns how many
        events were new.

        The live path reads back and refolds per event: a rebuild holds the events at once, so
        this writes the same rows (`fold_run` sorts by event id, so the result does not depend on
        the order of arrival). Events already logged are skipped, and a run with nothing new is
        left as it is (its view was folded with the rows that made it), so applying the same
        events twice changes nothing, and a catch-up over events the live consumers already
        applied costs one insert that inserts nothing.
        """
        rows: list[tuple[str, str, str, str, str, str]] = []
        user_of_run: dict[str, str | None] = {}
        # Each event as its row keeps it: the refold takes the new rows from here, not decoded again.
        kept: dict[str, dict[str, Any]] = {}
        for event in events:
            run_id = run_log_of(event)
            if run_id is None:
                continue
            kept[event.event_id] = visible(event)
            rows.append(
                (
                    event.event_id,
                    run_id,
                    event.tenant_id,
                    event.type,
                    event.occurred_at.isoformat(),
                    _json(kept[event.event_id]),
                )
            )
            if event.type == "run.requested":
                user_of_run[run_id] = event.actor.user_id
            else:
                user_of_run.setdefault(run_id, None)
        inserted = 0
        for chunk in _chunks(rows, BULK_ROWS):
            values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk))
            # One transaction for the rows and the views they change: a crash between the two
            # would leave rows no later pass refolds (it finds them logged and skips them).
            with self.db.transaction() as tx:
                self._lock_runs(tx, {row[1] for row in chunk})
                added = tx.query(
                    f"INSERT INTO {self.run_events} (event_id, run_id, tenant_id, type, occurred_at, data)"
                    f" VALUES {values} ON CONFLICT (event_id) DO NOTHING RETURNING run_id, event_id",
                    [value for row in chunk for value in row],
                )
                new = {str(r[1]): kept[str(r[1])] for r in added}
                for run_ids in _chunks(sorted({str(r[0]) for r in added}), BULK_RUNS):
                    self._refold(tx, run_ids, user_of_run, new)
            inserted += len(added)
        return inserted

    def _lock_runs(self, tx: SqlDatabase, run_ids: set[str]) -> None:
        """On the live tables in PostgreSQL, take the per-run locks `record_run_event` takes, so a
        bulk refold and a live consumer's step on the same run cannot each miss the other's row.
        In one order (by key) for all of them: two bulk writers never wait on each other in a cycle."""
        if not tx.is_postgres or self.prefix or not run_ids:
            return
        tx.query(
            "SELECT pg_advisory_xact_lock(k) FROM"
            " (SELECT DISTINCT hashtextextended(r, 0) AS k FROM unnest(?::text[]) AS r ORDER BY 1 OFFSET 0) AS keys",
            (sorted(run_ids),),
        )

    def _refold(
        self,
        tx: SqlDatabase,
        run_ids: Sequence[str],
        user_of_run: dict[str, str | None],
        new: dict[str, dict[str, Any]],
    ) -> None:
        """Fold the runs' views again from their logs; `new` holds the rows just inserted, decoded."""
        marks = ", ".join(["?"] * len(run_ids))
        logged: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in run_ids}
        tenant_of: dict[str, str] = {}
        for run_id, tenant_id, event_id, data in tx.query(
            f"SELECT run_id, tenant_id, event_id, data FROM {self.run_events} WHERE run_id IN ({marks})", run_ids
        ):
            held = new.get(event_id)
            logged[run_id].append(held if held is not None else json.loads(data))
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
                user_of_run.get(run_id),
                view["state"],
                _json(view),
                view["created_at"] or _now(),
                view["updated_at"] or _now(),
            )
            (requested if view["created_at"] else not_requested).append(row)
        for views, created_at in ((requested, "excluded.created_at"), (not_requested, f"{self.runs}.created_at")):
            if not views:
                continue
            values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(views))
            tx.execute(
                f"INSERT INTO {self.runs} (run_id, tenant_id, user_id, state, view, created_at, updated_at)"
                f" VALUES {values} ON CONFLICT (run_id) DO UPDATE SET state = excluded.state,"
                f" view = excluded.view, updated_at = excluded.updated_at,"
                f" user_id = COALESCE({self.runs}.user_id, excluded.user_id), created_at = {created_at}",
                [value for row in views for value in row],
            )

    def _next_view(self, tx: SqlDatabase, event: Event, data: dict[str, Any]) -> dict[str, Any]:
        """The run's view with `event` folded in: one step on the stored view when the event comes
        after every other of the run (event ids sort by time), else a refold of the whole log."""
        before = tx.query(
            f"SELECT MAX(event_id) FROM {self.run_events} WHERE run_id = ? AND event_id <> ?",
            (event.run_id, event.event_id),
        )
        latest = before[0][0] if before else None
        if latest is not None and latest < event.event_id:
            stored = tx.query(f"SELECT view FROM {self.runs} WHERE run_id = ?", (event.run_id,))
            if stored:
                return fold_next(json.loads(stored[0][0]), data)
        rows = tx.query(f"SELECT data FROM {self.run_events} WHERE run_id = ?", (event.run_id,))
        return fold_run([json.loads(r[0]) for r in rows])
