"""Reading the run read model: one run's view, a tenant's runs, a run's log and its past states."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from quarry_runtime.store import SqlDatabase
from services.gateway.readmodels.run_view import fold_run


class RunQueries:
    """The reads of the run tables `GatewayStore` names."""

    db: SqlDatabase
    prefix: str
    runs: str
    run_events: str

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

    def run_event_index(self, run_id: str) -> list[tuple[str, str, str, str]]:
        """(event id, type, occurred_at, tenant id) of every event of the run's log, whichever
        tenant's, in arrival order: where the operators' correlation view finds them in the stream."""
        rows = self.db.query(
            f"SELECT event_id, type, occurred_at, tenant_id FROM {self.run_events} WHERE run_id = ? ORDER BY seq",
            (run_id,),
        )
        return [(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def tenant_of_run(self, run_id: str) -> str | None:
        """The tenant whose run it is, whichever tenant's (for the operators' views)."""
        row = self.db.one(f"SELECT tenant_id FROM {self.runs} WHERE run_id = ?", (run_id,))
        return str(row[0]) if row else None

    def run_of_question(self, question_id: str) -> str | None:
        """The run a follow-up question is about, whichever tenant's."""
        row = self.db.one(f"SELECT run_id FROM {self.prefix}questions WHERE question_id = ?", (question_id,))
        return str(row[0]) if row else None
