"""The platform's audit log: who was made an operator or stopped being one, and every read an
operator made of the platform's own state (the `/v1/ops/` routes), when and from where.

Apart from the tenants' audit logs: what an operator does concerns no tenant, and a tenant's
admins have no business learning who operates the platform or what they looked at. Entries are
only ever added; `seq` orders them and is the reader's cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from quarry_runtime.store import SqlDatabase
from services.gateway.adapters.audit import read_entries, stored_detail

# In the order the operations console offers them (devtools.export_limits hands them to the web build).
KIND_ORDER: Final = (
    "operator.granted",
    "operator.revoked",
    "ops.read",
    "ops.change",
    "ops.deadletter.redriven",
    "ops.deadletter.discarded",
    "ops.replay.started",
    "ops.agent.registered",
    "ops.agent.evaluated",
    "ops.rollout.started",
    "ops.rollout.paused",
    "ops.rollout.resumed",
    "ops.rollout.aborted",
    "ops.rollout.rerandomised",
)
KINDS: Final = frozenset(KIND_ORDER)


@dataclass(frozen=True)
class PlatformActor:
    """Who acted: a signed-in operator (their user id and email), or a person at the command line."""

    name: str  # the operator's email, or `cli:<os user>@<host>`
    source_address: str
    user_id: str | None = None


class PlatformAudit:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        serial = "BIGSERIAL PRIMARY KEY" if db.is_postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
        db.execute(
            f"CREATE TABLE IF NOT EXISTS platform_audit_log (seq {serial}, at TEXT NOT NULL, kind TEXT NOT NULL,"
            " actor_user_id TEXT, actor_name TEXT NOT NULL, source_address TEXT NOT NULL, target TEXT,"
            " detail TEXT NOT NULL)"
        )

    def record(self, kind: str, actor: PlatformActor, target: str | None = None, **detail: Any) -> None:
        """Add one entry (inside the caller's transaction, when it is in one)."""
        text = stored_detail("platform audit", KINDS, kind, detail)
        self.db.execute(
            "INSERT INTO platform_audit_log (at, kind, actor_user_id, actor_name, source_address, target, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (datetime.now(UTC).isoformat(), kind, actor.user_id, actor.name, actor.source_address, target, text),
        )

    def entries(self, *, after: int = 0, limit: int = 100, kind: str | None = None) -> list[dict[str, Any]]:
        """Entries after `after`, oldest first, of one kind when `kind` is given."""
        return self._select("seq > ?", [after], kind, None, "seq", limit)

    def newest(
        self, *, before: int | None = None, limit: int = 100, kind: str | None = None, actor: str | None = None
    ) -> list[dict[str, Any]]:
        """Entries before `before` (all when None), newest first: of one kind, by one actor (their
        email or `cli:` name) when given."""
        where, params = ("seq < ?", [before]) if before is not None else ("1 = 1", [])
        return self._select(where, params, kind, actor, "seq DESC", limit)

    def _select(
        self, where: str, params: list[Any], kind: str | None, actor: str | None, order: str, limit: int
    ) -> list[dict[str, Any]]:
        if kind is not None:
            where += " AND kind = ?"
            params = [*params, kind]
        if actor is not None:
            where += " AND actor_name = ?"
            params = [*params, actor]
        return read_entries(self.db, "platform_audit_log", ("actor_name", "name"), where, params, order, limit)
