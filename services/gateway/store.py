"""The gateway's own tables (tenant settings; identity lives in `accounts`) and the read models built from the bus."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from contracts.document import DocumentUploaded
from contracts.envelope import Event
from quarry_runtime.store import SqlDatabase
from services.gateway.accounts import AccountStore
from services.gateway.audit import AuditStore
from services.gateway.datasets import DatasetStore
from services.gateway.disclosure import visible
from services.gateway.questions import QuestionStore
from services.gateway.readmodel import fold_next, fold_run
from services.gateway.shares import ShareStore
from services.gateway.templates import TemplateStore

RUN_EVENT_PREFIXES = ("run.", "credits.", "tool.", "task.", "report.", "approval.", "guardrail.", "usage.")
# A bulk rebuild's rows per INSERT (6 parameters each: SQLite allows 32766 a statement since
# 3.32 and 999 before, PostgreSQL 65535) and runs folded per read.
BULK_ROWS = 500 if sqlite3.sqlite_version_info >= (3, 32) else 999 // 6
BULK_RUNS = 200
DEFAULT_APPROVAL_TIMEOUT_S = 7 * 24 * 3600
T = TypeVar("T")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def run_log_of(event: Event) -> str | None:
    """The run whose log the event belongs in: the one it names, if it is of a kind the view folds."""
    return event.run_id if event.run_id and event.type.startswith(RUN_EVENT_PREFIXES) else None


def _stored(event: Event) -> str:
    """The event as a run's log keeps it: tenant-visible, so without tokens or raw tool output."""
    return json.dumps(visible(event), separators=(",", ":"))


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class GatewayStore:
    """`prefix` names a second set of read-model tables, so `quarry replay` can rebuild beside the live ones.

    Tenants, users and settings are the gateway's own state, not rebuilt from the bus: they are never prefixed.
    """

    def __init__(self, db: SqlDatabase, prefix: str = "") -> None:
        # The prefix goes into SQL identifiers, so it must be a plain identifier fragment.
        if not re.fullmatch(r"([a-z][a-z0-9_]*)?", prefix):
            raise ValueError(f"invalid read-model prefix {prefix!r}")
        self.db = db
        self.prefix = prefix
        self.accounts = AccountStore(db)
        self.audit = AuditStore(db)
        self.questions = QuestionStore(db, prefix)
        self.datasets = DatasetStore(db, prefix)
        self.templates = TemplateStore(db)
        self.runs = f"{prefix}runs"
        self.run_events = f"{prefix}run_events"
        self.documents = f"{prefix}documents"
        # The gateway's own state (links people were given), never rebuilt, so never prefixed.
        self.shares = ShareStore(db, self.run_events)
        serial = "BIGSERIAL PRIMARY KEY" if db.is_postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
        for statement in (
            "CREATE TABLE IF NOT EXISTS tenant_guardrails (tenant_id TEXT PRIMARY KEY, pii_policy TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS tenant_sources (tenant_id TEXT PRIMARY KEY, sources TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS tenant_settings (tenant_id TEXT PRIMARY KEY, approval_required INTEGER NOT NULL,"
            " approval_timeout_s INTEGER NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.runs} (run_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, user_id TEXT,"
            " state TEXT NOT NULL, view TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {self.runs}_by_tenant ON {self.runs} (tenant_id, created_at)",
            f"CREATE TABLE IF NOT EXISTS {self.run_events} (seq {serial}, event_id TEXT NOT NULL UNIQUE,"
            " run_id TEXT NOT NULL, tenant_id TEXT NOT NULL, type TEXT NOT NULL, occurred_at TEXT NOT NULL,"
            " data TEXT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {self.run_events}_by_run ON {self.run_events} (run_id, seq)",
            f"CREATE TABLE IF NOT EXISTS {self.documents} (document_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, title TEXT NOT NULL,"
            " content_type TEXT NOT NULL, status TEXT NOT NULL, chunks INTEGER NOT NULL DEFAULT 0, reason TEXT,"
            " created_at TEXT NOT NULL)",
        ):
            db.execute(statement)

    # -- tenant settings ---------------------------------------------------------------------

    def tenant_settings(self, tenant_id: str) -> dict[str, Any]:
        row = self.db.one(
            "SELECT approval_required, approval_timeout_s FROM tenant_settings WHERE tenant_id = ?", (tenant_id,)
        )
        guard = self.db.one("SELECT pii_policy FROM tenant_guardrails WHERE tenant_id = ?", (tenant_id,))
        settings: dict[str, Any] = {"approval_required": False, "approval_timeout_s": DEFAULT_APPROVAL_TIMEOUT_S}
        if row is not None:
            settings = {"approval_required": bool(row[0]), "approval_timeout_s": int(row[1])}
        sources = self.db.one("SELECT sources FROM tenant_sources WHERE tenant_id = ?", (tenant_id,))
        return settings | {
            "pii_policy": str(guard[0]) if guard else "redact",
            # None: the platform's default (the shared corpus and the tenant's documents).
            "sources": json.loads(sources[0]) if sources else None,
        }

    def update_sources(self, tenant_id: str, sources: list[str]) -> None:
        self.db.execute(
            "INSERT INTO tenant_sources (tenant_id, sources) VALUES (?, ?)"
            " ON CONFLICT (tenant_id) DO UPDATE SET sources = excluded.sources",
            (tenant_id, json.dumps(sorted(set(sources)))),
        )

    def update_pii_policy(self, tenant_id: str, pii_policy: str) -> None:
        self.db.execute(
            "INSERT INTO tenant_guardrails (tenant_id, pii_policy) VALUES (?, ?)"
            " ON CONFLICT (tenant_id) DO UPDATE SET pii_policy = excluded.pii_policy",
            (tenant_id, pii_policy),
        )

    def update_tenant_settings(self, tenant_id: str, approval_required: bool, approval_timeout_s: int) -> None:
        self.db.execute(
            "INSERT INTO tenant_settings (tenant_id, approval_required, approval_timeout_s) VALUES (?, ?, ?)"
            " ON CONFLICT (tenant_id) DO UPDATE SET approval_required = excluded.approval_required,"
            " approval_timeout_s = excluded.approval_timeout_s",
            (tenant_id, int(approval_required), approval_timeout_s),
        )

    # -- run read model --------------------------------------------------------------------

    def record_run_event(self, event: Event) -> bool:
        """Add one event to its run's log and refold the run's view; False if already there."""
        if run_log_of(event) is None:
            return False
        data = _stored(event)
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
            view = self._next_view(tx, event, data)
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
                    json.dumps(view),
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
        for event in events:
            run_id = run_log_of(event)
            if run_id is None:
                continue
            rows.append(
                (
                    event.event_id,
                    run_id,
                    event.tenant_id,
                    event.type,
                    event.occurred_at.isoformat(),
                    _stored(event),
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
                    f" VALUES {values} ON CONFLICT (event_id) DO NOTHING RETURNING run_id",
                    [value for row in chunk for value in row],
                )
                for run_ids in _chunks(sorted({str(r[0]) for r in added}), BULK_RUNS):
                    self._refold(tx, run_ids, user_of_run)
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

    def _refold(self, tx: SqlDatabase, run_ids: Sequence[str], user_of_run: dict[str, str | None]) -> None:
        marks = ", ".join(["?"] * len(run_ids))
        logged: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in run_ids}
        tenant_of: dict[str, str] = {}
        for run_id, tenant_id, data in tx.query(
            f"SELECT run_id, tenant_id, data FROM {self.run_events} WHERE run_id IN ({marks})", run_ids
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
                user_of_run.get(run_id),
                view["state"],
                json.dumps(view),
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

    def _next_view(self, tx: SqlDatabase, event: Event, data: str) -> dict[str, Any]:
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
                return fold_next(json.loads(stored[0][0]), json.loads(data))
        rows = tx.query(f"SELECT data FROM {self.run_events} WHERE run_id = ?", (event.run_id,))
        return fold_run([json.loads(r[0]) for r in rows])

    def run_view(self, tenant_id: str, run_id: str) -> dict[str, Any] | None:
        """The run's view, only if it belongs to the tenant (anything else is not found)."""
        row = self.db.one(
            f"SELECT view, user_id FROM {self.runs} WHERE run_id = ? AND tenant_id = ?", (run_id, tenant_id)
        )
        if row is None:
            return None
        return {"run_id": run_id, "user_id": row[1], **json.loads(row[0])}

    def list_runs(
        self, tenant_id: str, limit: int, offset: int, *, q: str | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        """The tenant's runs, newest first; `q` keeps those whose question or report title
        contains it (case-insensitive), `state` those in that state."""
        where, params = ["tenant_id = ?"], [tenant_id]
        if q:
            if self.db.is_postgres:
                question, title = "(view::jsonb ->> 'question')", "(view::jsonb -> 'report' ->> 'title')"
            else:
                question, title = "json_extract(view, '$.question')", "json_extract(view, '$.report.title')"
            where.append(
                f"(LOWER(COALESCE({question}, '')) LIKE ? ESCAPE '\\' OR LOWER(COALESCE({title}, '')) LIKE ? ESCAPE '\\')"
            )
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", q.lower()) + "%"
            params += [pattern, pattern]
        if state:
            where.append("state = ?")
            params.append(state)
        rows = self.db.query(
            f"SELECT run_id, state, view FROM {self.runs} WHERE {' AND '.join(where)}"
            " ORDER BY created_at DESC, run_id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        out = []
        for run_id, run_state, view_json in rows:
            view = json.loads(view_json)
            report = view.get("report") or {}
            out.append(
                {
                    "run_id": run_id,
                    "state": run_state,
                    "question": view["question"],
                    "title": report.get("title"),
                    "created_at": view["created_at"],
                    "updated_at": view["updated_at"],
                    "error": view["error"],
                    "cost": view["cost"],
                }
            )
        return out

    def run_events_after(
        self, tenant_id: str, run_id: str, after_seq: int, limit: int = 500
    ) -> list[tuple[int, str, str]]:
        """(seq, type, data) of the run's events after `after_seq`, in arrival order."""
        rows = self.db.query(
            f"SELECT seq, type, data FROM {self.run_events} WHERE run_id = ? AND tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (run_id, tenant_id, after_seq, limit),
        )
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def run_log(self, tenant_id: str, run_id: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
        """A page of the run's raw events, oldest first, each with its position in the log."""
        return [
            {"seq": seq, "event": json.loads(data)}
            for seq, _, data in self.run_events_after(tenant_id, run_id, after_seq, limit)
        ]

    def run_events_of(self, tenant_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every event of the run's log, in arrival order."""
        rows = self.db.query(
            f"SELECT data FROM {self.run_events} WHERE run_id = ? AND tenant_id = ? ORDER BY seq", (run_id, tenant_id)
        )
        return [json.loads(r[0]) for r in rows]

    def run_state_at(
        self, tenant_id: str, run_id: str, *, seq: int | None = None, at: datetime | None = None
    ) -> dict[str, Any] | None:
        """The run's view rebuilt from its log alone, as it was after event `seq` or at time `at`."""
        rows = self.db.query(
            f"SELECT seq, data FROM {self.run_events} WHERE run_id = ? AND tenant_id = ? ORDER BY seq",
            (run_id, tenant_id),
        )
        if not rows:
            return None
        events = [(int(s), json.loads(d)) for s, d in rows]
        if seq is not None:
            events = [(s, e) for s, e in events if s <= seq]
        if at is not None:
            events = [(s, e) for s, e in events if datetime.fromisoformat(e["occurred_at"]) <= at]
        view = fold_run([e for _, e in events])
        return {"run_id": run_id, "as_of_seq": events[-1][0] if events else 0, "events": len(events), **view}

    def run_rows(self) -> dict[str, dict[str, Any]]:
        """Every run's row, its view parsed: what `quarry replay` compares."""
        rows = self.db.query(f"SELECT run_id, tenant_id, user_id, state, created_at, updated_at, view FROM {self.runs}")
        keys = ("tenant_id", "user_id", "state", "created_at", "updated_at")
        return {str(r[0]): dict(zip(keys, r[1:6], strict=True)) | {"view": json.loads(r[6])} for r in rows}

    def run_event_ids(self) -> dict[str, set[str]]:
        """The ids of each run's logged events (their `seq` is arrival order, so only ids can be compared)."""
        out: dict[str, set[str]] = {}
        for run_id, event_id in self.db.query(f"SELECT run_id, event_id FROM {self.run_events}"):
            out.setdefault(str(run_id), set()).add(str(event_id))
        return out

    def drop_read_models(self) -> None:
        """Drop this prefix's read-model tables; the live ones (no prefix) are never dropped this way."""
        if not self.prefix:
            raise ValueError("refusing to drop the live read models")
        for table in (self.runs, self.run_events, self.documents):
            self.db.execute(f"DROP TABLE IF EXISTS {table}")
        self.questions.drop()
        self.datasets.drop()

    # -- documents -----------------------------------------------------------------------------

    def record_document_uploaded(self, event: DocumentUploaded) -> None:
        """The document's row, from its upload event: the gateway at upload time and a rebuild write the same row."""
        p = event.payload
        self.add_document(p.document_id, event.tenant_id, p.title, p.content_type, created_at=event.occurred_at)

    def add_document(
        self, document_id: str, tenant_id: str, title: str, content_type: str, *, created_at: datetime | None = None
    ) -> None:
        # Without the event's time the row cannot be rebuilt identically: prefer record_document_uploaded.
        self.db.execute(
            f"INSERT INTO {self.documents} (document_id, tenant_id, title, content_type, status, created_at)"
            " VALUES (?, ?, ?, ?, 'uploaded', ?) ON CONFLICT (document_id) DO NOTHING",
            (document_id, tenant_id, title, content_type, created_at.isoformat() if created_at else _now()),
        )

    def set_document_status(
        self, document_id: str, tenant_id: str, status: str, chunks: int, reason: str | None
    ) -> None:
        self.db.execute(
            f"UPDATE {self.documents} SET status = ?, chunks = ?, reason = ? WHERE document_id = ? AND tenant_id = ?",
            (status, chunks, reason, document_id, tenant_id),
        )

    def list_documents(self, tenant_id: str) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT document_id, title, content_type, status, chunks, reason, created_at"
            f" FROM {self.documents} WHERE tenant_id = ? ORDER BY created_at DESC",
            (tenant_id,),
        )
        keys = ("document_id", "title", "content_type", "status", "chunks", "reason", "created_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def document_rows(self) -> dict[str, dict[str, Any]]:
        """Every document's row: what `quarry replay` compares."""
        rows = self.db.query(
            f"SELECT document_id, tenant_id, title, content_type, status, chunks, reason, created_at FROM {self.documents}"
        )
        keys = ("tenant_id", "title", "content_type", "status", "chunks", "reason", "created_at")
        return {str(r[0]): dict(zip(keys, r[1:], strict=True)) for r in rows}
