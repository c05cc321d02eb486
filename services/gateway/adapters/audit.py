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
        text = stored_detail("audit", KINDS, kind, detail)
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
        return read_entries(self.db, "audit_log", ("actor_key_id", "key_id"), where, params, "seq", limit)


def stored_detail(log: str, kinds: frozenset[str], kind: str, detail: dict[str, Any]) -> str:
    """An entry's detail as stored: its JSON, or only that it was cut when past MAX_DETAIL_BYTES.
    A kind the `log` does not know (not in `kinds`) is refused."""
    if kind not in kinds:
        raise ValueError(f"unknown {log} kind {kind!r}")
    text = json.dumps(detail, sort_keys=True, default=str)
    return text if len(text.encode()) <= MAX_DETAIL_BYTES else json.dumps({"truncated": True})


def read_entries(
    db: SqlDatabase, table: str, actor: tuple[str, str], where: str, params: list[Any], order: str, limit: int
) -> list[dict[str, Any]]:
    """An audit log's rows as its readers see them (the tenant's log and the platform's alike);
    `actor` names the column kept beside `actor_user_id` and its key in an entry's `actor`."""
    column, key = actor
    rows = db.query(
        f"SELECT seq, at, kind, actor_user_id, {column}, source_address, target, detail FROM {table}"
        f" WHERE {where} ORDER BY {order} LIMIT ?",
        [*params, limit],
    )
    return [
        {
            "seq": int(seq),
            "at": at,
            "kind": kind,
            "actor": {"user_id": user_id, key: other},
            "source_address": source,
            "target": target,
            "detail": json.loads(detail),
        }
        for seq, at, kind, user_id, other, source, target, detail in rows
    ]
