"""The gateway's own tables: tenants and users, and the read models built from the bus."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from contracts.envelope import Event
from quarry_runtime.store import SqlDatabase
from services.gateway.readmodel import fold_run

RUN_EVENT_PREFIXES = ("run.", "credits.", "tool.", "task.", "report.")


def _now() -> str:
    return datetime.now(UTC).isoformat()


class DuplicateEmail(Exception):
    """A user with this email already exists."""


class GatewayStore:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        serial = "BIGSERIAL PRIMARY KEY" if db.is_postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
        for statement in (
            "CREATE TABLE IF NOT EXISTS tenants (tenant_id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS users (user_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, email TEXT NOT NULL UNIQUE,"
            " password_hash TEXT NOT NULL, roles TEXT NOT NULL, created_at TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, user_id TEXT,"
            " state TEXT NOT NULL, view TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS runs_by_tenant ON runs (tenant_id, created_at)",
            f"CREATE TABLE IF NOT EXISTS run_events (seq {serial}, event_id TEXT NOT NULL UNIQUE, run_id TEXT NOT NULL,"
            " tenant_id TEXT NOT NULL, type TEXT NOT NULL, occurred_at TEXT NOT NULL, data TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS run_events_by_run ON run_events (run_id, seq)",
            "CREATE TABLE IF NOT EXISTS documents (document_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, title TEXT NOT NULL,"
            " content_type TEXT NOT NULL, status TEXT NOT NULL, chunks INTEGER NOT NULL DEFAULT 0, reason TEXT,"
            " created_at TEXT NOT NULL)",
        ):
            db.execute(statement)

    # -- identity ------------------------------------------------------------------------------

    def create_tenant_with_owner(self, tenant_id: str, name: str, user_id: str, email: str, password_hash: str) -> None:
        with self.db.transaction() as tx:
            if tx.one("SELECT 1 FROM users WHERE email = ?", (email,)):
                raise DuplicateEmail(email)
            tx.execute("INSERT INTO tenants VALUES (?, ?, ?)", (tenant_id, name, _now()))
            tx.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)",
                (user_id, tenant_id, email, password_hash, json.dumps(["owner"]), _now()),
            )

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        row = self.db.one("SELECT user_id, tenant_id, email, password_hash, roles FROM users WHERE email = ?", (email,))
        if row is None:
            return None
        return {
            "user_id": row[0],
            "tenant_id": row[1],
            "email": row[2],
            "password_hash": row[3],
            "roles": json.loads(row[4]),
        }

    def tenant_name(self, tenant_id: str) -> str | None:
        row = self.db.one("SELECT name FROM tenants WHERE tenant_id = ?", (tenant_id,))
        return str(row[0]) if row else None

    # -- run read model --------------------------------------------------------------------

    def record_run_event(self, event: Event) -> bool:
        """Add one event to its run's log and refold the run's view; False if already there."""
        if not event.run_id or not event.type.startswith(RUN_EVENT_PREFIXES):
            return False
        data = event.model_dump_json()
        with self.db.transaction() as tx:
            inserted = tx.execute(
                "INSERT INTO run_events (event_id, run_id, tenant_id, type, occurred_at, data) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (event_id) DO NOTHING",
                (event.event_id, event.run_id, event.tenant_id, event.type, event.occurred_at.isoformat(), data),
            )
            if not inserted:
                return False
            rows = tx.query("SELECT data FROM run_events WHERE run_id = ?", (event.run_id,))
            view = fold_run([json.loads(r[0]) for r in rows])
            user_id = event.actor.user_id if event.type == "run.requested" else None
            tx.execute(
                "INSERT INTO runs (run_id, tenant_id, user_id, state, view, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id) DO UPDATE SET state = excluded.state, view = excluded.view,"
                " updated_at = excluded.updated_at, user_id = COALESCE(runs.user_id, excluded.user_id)",
                (
                    event.run_id,
                    event.tenant_id,
                    user_id,
                    view["state"],
                    json.dumps(view),
                    view["created_at"] or _now(),
                    view["updated_at"] or _now(),
                ),
            )
        return True

    def run_view(self, tenant_id: str, run_id: str) -> dict[str, Any] | None:
        """The run's view, only if it belongs to the tenant (anything else is not found)."""
        row = self.db.one("SELECT view, user_id FROM runs WHERE run_id = ? AND tenant_id = ?", (run_id, tenant_id))
        if row is None:
            return None
        return {"run_id": run_id, "user_id": row[1], **json.loads(row[0])}

    def list_runs(self, tenant_id: str, limit: int, offset: int) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT run_id, state, view FROM runs WHERE tenant_id = ? ORDER BY created_at DESC, run_id DESC LIMIT ? OFFSET ?",
            (tenant_id, limit, offset),
        )
        out = []
        for run_id, state, view_json in rows:
            view = json.loads(view_json)
            out.append(
                {
                    "run_id": run_id,
                    "state": state,
                    "question": view["question"],
                    "created_at": view["created_at"],
                    "updated_at": view["updated_at"],
                    "error": view["error"],
                }
            )
        return out

    def run_events_after(
        self, tenant_id: str, run_id: str, after_seq: int, limit: int = 500
    ) -> list[tuple[int, str, str]]:
        """(seq, type, data) of the run's events after `after_seq`, in arrival order."""
        rows = self.db.query(
            "SELECT seq, type, data FROM run_events WHERE run_id = ? AND tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (run_id, tenant_id, after_seq, limit),
        )
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    # -- documents -----------------------------------------------------------------------------

    def add_document(self, document_id: str, tenant_id: str, title: str, content_type: str) -> None:
        self.db.execute(
            "INSERT INTO documents (document_id, tenant_id, title, content_type, status, created_at)"
            " VALUES (?, ?, ?, ?, 'uploaded', ?) ON CONFLICT (document_id) DO NOTHING",
            (document_id, tenant_id, title, content_type, _now()),
        )

    def set_document_status(
        self, document_id: str, tenant_id: str, status: str, chunks: int, reason: str | None
    ) -> None:
        self.db.execute(
            "UPDATE documents SET status = ?, chunks = ?, reason = ? WHERE document_id = ? AND tenant_id = ?",
            (status, chunks, reason, document_id, tenant_id),
        )

    def list_documents(self, tenant_id: str) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT document_id, title, content_type, status, chunks, reason, created_at FROM documents"
            " WHERE tenant_id = ? ORDER BY created_at DESC",
            (tenant_id,),
        )
        keys = ("document_id", "title", "content_type", "status", "chunks", "reason", "created_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]
