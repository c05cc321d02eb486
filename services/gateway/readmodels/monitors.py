"""The gateway's monitors read model: one row per monitor, folded from its events."""

from __future__ import annotations

import json
from typing import Any

from contracts.envelope import Event
from contracts.monitor import MonitorChanged, MonitorCreated, MonitorFired, MonitorScheduled
from services.gateway.readmodels.tables import Prefixed, Tables


class MonitorStore(Tables):
    """One row per monitor, its view folded from its events."""

    table = Prefixed("monitors")

    def schema(self) -> tuple[str, ...]:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table} (monitor_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,"
            " view TEXT NOT NULL, created_at TEXT NOT NULL)",
        )

    def apply(self, ev: Event) -> None:
        """Fold one monitor event into its row (idempotent: the same event twice changes nothing)."""
        if isinstance(ev, MonitorCreated):
            p = ev.payload
            view: dict[str, Any] = {
                "monitor_id": p.monitor_id,
                "question": p.question,
                "depth": p.depth,
                "max_sources": p.max_sources,
                "schedule": p.schedule.model_dump(exclude_none=True),
                "status": "active",
                "next_slot": None,
                "runs": [],
                "created_by": ev.actor.user_id,
                "template": {
                    "template_id": p.template.template_id,
                    "version": p.template.version,
                    "name": p.template.name,
                }
                if p.template
                else None,
            }
            self.db.execute(
                f"INSERT INTO {self.table} (monitor_id, tenant_id, view, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (monitor_id) DO NOTHING",
                (p.monitor_id, ev.tenant_id, json.dumps(view), ev.occurred_at.isoformat()),
            )
            return
        monitor_id = getattr(ev.payload, "monitor_id", None)
        if monitor_id is None:
            return
        with self.db.transaction() as tx:
            row = tx.one(
                f"SELECT view FROM {self.table} WHERE monitor_id = ? AND tenant_id = ?", (monitor_id, ev.tenant_id)
            )
            if row is None:
                return
            view = json.loads(row[0])
            if isinstance(ev, MonitorScheduled):
                seen, version = view.get("version") or 0, ev.payload.version
                if version is not None and version <= seen:
                    return  # a late redelivery of an older change: the view is already past it
                if version is not None:
                    view["version"] = version
                view["status"] = ev.payload.status
                view["next_slot"] = ev.payload.next_slot.isoformat() if ev.payload.next_slot else None
            elif isinstance(ev, MonitorChanged) and ev.payload.change == "deleted":
                view["status"] = "deleted"
            elif isinstance(ev, MonitorFired):
                fired = {"slot": ev.payload.slot.isoformat(), "run_id": ev.payload.run_id}
                if fired not in view["runs"]:
                    view["runs"].append(fired)
                if ev.payload.next_slot and view["status"] == "active":
                    view["next_slot"] = ev.payload.next_slot.isoformat()
            tx.execute(f"UPDATE {self.table} SET view = ? WHERE monitor_id = ?", (json.dumps(view), monitor_id))

    def get(self, tenant_id: str, monitor_id: str) -> dict[str, Any] | None:
        row = self.db.one(
            f"SELECT view FROM {self.table} WHERE monitor_id = ? AND tenant_id = ?", (monitor_id, tenant_id)
        )
        return json.loads(row[0]) if row else None

    def list(self, tenant_id: str) -> list[dict[str, Any]]:
        rows = self.db.query(
            f"SELECT view FROM {self.table} WHERE tenant_id = ? ORDER BY created_at DESC, monitor_id DESC", (tenant_id,)
        )
        return [v for v in (json.loads(r[0]) for r in rows) if v["status"] != "deleted"]

    def rows(self) -> dict[str, dict[str, Any]]:
        """Every monitor's row: what `quarry replay` compares."""
        rows = self.db.query(f"SELECT monitor_id, tenant_id, view, created_at FROM {self.table}")
        return {str(r[0]): {"tenant_id": r[1], "view": json.loads(r[2]), "created_at": r[3]} for r in rows}

    def drop(self) -> None:
        if self.table == "monitors":
            raise ValueError("refusing to drop the live monitors table")
        self.db.execute(f"DROP TABLE IF EXISTS {self.table}")
