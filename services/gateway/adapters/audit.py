"""The tenant's audit log: who changed its members, roles, API keys, settings, model endpoint,
policy or billing, or edited a run's plan, when, and from which address.

The gateway's own state, written by the route that made the change once the change is made
(a refused request changes nothing and is not logged), and from billing's `credits.plan_changed`
for plan changes that arrive by Stripe's webhook (their source is `bus`; the event id makes a
redelivery change nothing). Entries are only ever added; `seq` orders them and is the reader's
cursor.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from contracts.credits import PlanChanged
from quarry_runtime.store import SqlDatabase

# Kinds, by area: the reader's `kind` filter takes a kind or an area ("member" for all member.*).
KINDS: Final = frozenset(
    {
        "member.invited",
        "member.role_changed",
        "member.removed",
        "api_key.created",
        "api_key.revoked",
        "settings.changed",
        "model.set",
        "model.removed",
        "policy.published",
        "billing.checkout",
        "billing.portal",
        "billing.plan_changed",
        "share.created",
        "share.revoked",
        "run.plan_reviewed",
    }
)
MAX_DETAIL_BYTES: Final = 4096


class AuditStore:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        serial = "BIGSERIAL PRIMARY KEY" if db.is_postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
        for statement in (
            f"CREATE TABLE IF NOT EXISTS audit_log (seq {serial}, tenant_id TEXT NOT NULL, at TEXT NOT NULL,"
            " kind TEXT NOT NULL, actor_user_id TEXT NOT NULL, actor_key_id TEXT, source_address TEXT NOT NULL,"
            " target TEXT, detail TEXT NOT NULL, event_id TEXT UNIQUE)",
            "CREATE INDEX IF NOT EXISTS audit_log_by_tenant ON audit_log (tenant_id, seq)",
        ):
            db.execute(statement)

    def record(
        self,
        tenant_id: str,
        kind: str,
        *,
        user_id: str,
        key_id: str | None,
        source_address: str,
        target: str | None,
        detail: dict[str, Any],
        event_id: str | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown audit kind {kind!r}")
        text = json.dumps(detail, sort_keys=True, default=str)
        if len(text.encode()) > MAX_DETAIL_BYTES:
            text = json.dumps({"truncated": True})
        self.db.execute(
            "INSERT INTO audit_log (tenant_id, at, kind, actor_user_id, actor_key_id, source_address, target,"
            " detail, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
            (tenant_id, datetime.now(UTC).isoformat(), kind, user_id, key_id, source_address, target, text, event_id),
        )

    def record_plan_change(self, event: PlanChanged) -> None:
        """A plan change billing applied (a checkout in mock mode, Stripe's webhook in live mode)."""
        self.record(
            event.tenant_id,
            "billing.plan_changed",
            user_id=event.actor.user_id or event.actor.agent or "billing",
            key_id=None,
            source_address="bus",
            target=event.payload.plan,
            detail={"previous": event.payload.previous},
            event_id=event.event_id,
        )

    def entries(self, tenant_id: str, *, after: int, limit: int, kind: str | None) -> list[dict[str, Any]]:
        """The tenant's entries after `after`, oldest first; `kind` is a kind or an area."""
        where = "tenant_id = ? AND seq > ?"
        params: list[Any] = [tenant_id, after]
        if kind is not None:
            area = f"{kind}."
            where += " AND (kind = ? OR substr(kind, 1, ?) = ?)"
            params += [kind, len(area), area]
        rows = self.db.query(
            "SELECT seq, at, kind, actor_user_id, actor_key_id, source_address, target, detail FROM audit_log"
            f" WHERE {where} ORDER BY seq LIMIT ?",
            [*params, limit],
        )
        return [
            {
                "seq": int(seq),
                "at": at,
                "kind": k,
                "actor": {"user_id": user_id, "key_id": key_id},
                "source_address": source,
                "target": target,
                "detail": json.loads(detail),
            }
            for seq, at, k, user_id, key_id, source, target, detail in rows
        ]
