"""The policy service's own tables: policy set versions, the recent decisions per tenant, budgets.

The active version is kept here so a restarted service (or a new replica) comes back on it
without replaying the stream. Decisions are a query model of the `tool.v1.decided` events the
service publishes, which remain the log: only the last `DECISIONS_KEPT` per tenant are kept for
admins to list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from contracts.policy import DecisionRecord, PolicyVersionInfo, VersionStatus
from contracts.tool import ToolDecided, ToolDecidedPayload
from quarry_runtime.store import SqlDatabase

DECISIONS_KEPT: Final = 1000
PRUNE_EVERY: Final = 100


SHIPPED: Final = "shipped"
# The columns read back into contract models, in their order; those held as JSON text are `_JSON`.
_VERSION_COLUMNS: Final = ("version", "status", "reason", "published_by", "comment", "published_at", "activated_at")
_DECISION_COLUMNS: Final = (
    "event_id",
    "occurred_at",
    "run_id",
    "task_id",
    "tool",
    "decision",
    "reasons",
    "policy_ids",
    "policy_version",
    "evaluation_ms",
    "agent",
    "user_id",
)
_JSON: Final = frozenset({"files", "reasons", "policy_ids"})


@dataclass(frozen=True, slots=True)
class Publication:
    """A policy set as someone published it, to be activated or rejected."""

    version: str
    files: Mapping[str, str]
    published_by: str | None
    comment: str = ""
    published_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ActiveVersion:
    version: str
    files: dict[str, str]
    event_id: str
    published_by: str | None


@dataclass(frozen=True, slots=True)
class Budget:
    balance: int
    allotment: int
    as_of: str


@dataclass(frozen=True, slots=True)
class KeptDecision:
    """The decision kept under a request's event id, and whether this call was the one to keep it
    (a redelivered request's call finds the first one there)."""

    payload: ToolDecidedPayload
    first: bool


class PolicyStore:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        self._inserted: dict[str, int] = {}
        serial = "BIGSERIAL PRIMARY KEY" if db.is_postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
        for statement in (
            "CREATE TABLE IF NOT EXISTS policy_versions (version TEXT PRIMARY KEY, files TEXT NOT NULL,"
            " status TEXT NOT NULL, reason TEXT, published_by TEXT, comment TEXT NOT NULL DEFAULT '',"
            " published_at TEXT NOT NULL, activated_at TEXT)",
            "CREATE TABLE IF NOT EXISTS policy_state (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS decisions (seq {serial}, event_id TEXT NOT NULL UNIQUE,"
            " tenant_id TEXT NOT NULL, run_id TEXT, task_id TEXT NOT NULL, tool TEXT NOT NULL,"
            " decision TEXT NOT NULL, reasons TEXT NOT NULL, policy_ids TEXT NOT NULL,"
            " policy_version TEXT NOT NULL, evaluation_ms DOUBLE PRECISION NOT NULL, agent TEXT, user_id TEXT,"
            " occurred_at TEXT NOT NULL, payload TEXT)",
            "CREATE INDEX IF NOT EXISTS decisions_by_tenant ON decisions (tenant_id, seq)",
            "CREATE TABLE IF NOT EXISTS budgets (tenant_id TEXT PRIMARY KEY, balance BIGINT NOT NULL,"
            " allotment BIGINT NOT NULL, as_of TEXT NOT NULL)",
        ):
            db.execute(statement)
        self._add_column("decisions", "payload", "TEXT")

    def _add_column(self, table: str, column: str, kind: str) -> None:
        """Bring a table made by an older version up to date (SQLite has no ADD COLUMN IF NOT EXISTS)."""
        if self.db.is_postgres:
            self.db.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
        elif column not in {row[1] for row in self.db.query(f"PRAGMA table_info({table})")}:
            self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    # -- versions ------------------------------------------------------------------------------

    def active(self) -> ActiveVersion | None:
        row = self.db.one(
            "SELECT v.version, v.files, s2.value, v.published_by FROM policy_state s"
            " JOIN policy_versions v ON v.version = s.value"
            " LEFT JOIN policy_state s2 ON s2.name = 'active_event_id' WHERE s.name = 'active_version'"
        )
        if row is None:
            return None
        return ActiveVersion(row[0], json.loads(row[1]), row[2] or "", row[3])

    def replaced_version(self) -> str | None:
        """The version the active one replaced, as `activate` returned it (None: none, or not known)."""
        row = self.db.one("SELECT value FROM policy_state WHERE name = 'replaced_version'")
        return str(row[0]) if row is not None and row[0] else None

    def active_version(self) -> str | None:
        row = self.db.one("SELECT value FROM policy_state WHERE name = 'active_version'")
        return None if row is None else str(row[0])

    def activate(self, publication: Publication, *, event_id: str) -> str | None:
        """Make the publication's version the active one (recording it if new); returns the version
        it replaces."""
        version = publication.version
        now = _now()
        with self.db.transaction() as tx:
            previous = tx.one("SELECT value FROM policy_state WHERE name = 'active_version'")
            self._upsert_version(tx, publication, "active", None)
            tx.execute("UPDATE policy_versions SET activated_at = ? WHERE version = ?", (now, version))
            if previous is not None and previous[0] != version:
                tx.execute("UPDATE policy_versions SET status = 'superseded' WHERE version = ?", (previous[0],))
            replaced = "" if previous is None or previous[0] == version else str(previous[0])
            settings = (("active_version", version), ("active_event_id", event_id), ("replaced_version", replaced))
            for name, value in settings:
                tx.execute(
                    "INSERT INTO policy_state (name, value) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (name, value),
                )
        return None if previous is None else str(previous[0])

    def reject(self, publication: Publication, reason: str) -> None:
        with self.db.transaction() as tx:
            row = tx.one("SELECT status FROM policy_versions WHERE version = ?", (publication.version,))
            if row is not None and row[0] == "active":
                return  # the same files are in force already; they cannot be both
            self._upsert_version(tx, publication, "rejected", reason)

    def versions(self, version: str | None = None) -> list[PolicyVersionInfo]:
        """Every version, newest first, without files; or one version with its files."""
        columns = ", ".join(_VERSION_COLUMNS)
        if version is None:
            rows = self.db.query(f"SELECT {columns}, NULL FROM policy_versions ORDER BY published_at DESC")
        else:
            rows = self.db.query(f"SELECT {columns}, files FROM policy_versions WHERE version = ?", (version,))
        return [PolicyVersionInfo(**_by_name((*_VERSION_COLUMNS, "files"), r)) for r in rows]

    @staticmethod
    def _upsert_version(tx: SqlDatabase, publication: Publication, status: VersionStatus, reason: str | None) -> None:
        p = publication
        at = (p.published_at or datetime.now(UTC)).isoformat()
        tx.execute(
            "INSERT INTO policy_versions (version, files, status, reason, published_by, comment, published_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (version) DO UPDATE SET status = excluded.status,"
            " reason = excluded.reason, published_by = excluded.published_by, comment = excluded.comment,"
            " published_at = excluded.published_at",
            (p.version, json.dumps(dict(p.files)), status, reason, p.published_by, p.comment, at),
        )

    # -- decisions -----------------------------------------------------------------------------

    def record_decision(self, ev: ToolDecided) -> KeptDecision:
        """Keep a decision once per event id; returns the decision kept under its id (the first one
        recorded), which is the one to publish: a redelivered request may be decided differently."""
        p = ev.payload
        added = self.db.execute(
            "INSERT INTO decisions (event_id, tenant_id, run_id, task_id, tool, decision, reasons, policy_ids,"
            " policy_version, evaluation_ms, agent, user_id, occurred_at, payload)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
            (
                ev.event_id,
                ev.tenant_id,
                ev.run_id,
                p.task_id,
                p.tool,
                p.decision,
                json.dumps(p.reasons),
                json.dumps(p.policy_ids),
                p.policy_version,
                p.evaluation_ms,
                ev.actor.agent,
                ev.actor.user_id,
                ev.occurred_at.isoformat(),
                p.model_dump_json(),
            ),
        )
        if added:
            count = self._inserted.get(ev.tenant_id, 0) + 1
            self._inserted[ev.tenant_id] = count
            if count % PRUNE_EVERY == 0:
                self._prune(ev.tenant_id)
            return KeptDecision(p, first=True)
        row = self.db.one("SELECT payload FROM decisions WHERE event_id = ?", (ev.event_id,))
        # A row from before the payload was kept (or one pruned since) holds nothing to repeat.
        kept = ToolDecidedPayload.model_validate_json(row[0]) if row is not None and row[0] else p
        return KeptDecision(kept, first=False)

    def recent_decisions(self, tenant_id: str, limit: int) -> list[DecisionRecord]:
        rows = self.db.query(
            f"SELECT {', '.join(_DECISION_COLUMNS)} FROM decisions WHERE tenant_id = ? ORDER BY seq DESC LIMIT ?",
            (tenant_id, limit),
        )
        return [DecisionRecord(**_by_name(_DECISION_COLUMNS, r)) for r in rows]

    def _prune(self, tenant_id: str) -> None:
        self.db.execute(
            "DELETE FROM decisions WHERE tenant_id = ? AND seq <= (SELECT seq FROM decisions WHERE tenant_id = ?"
            " ORDER BY seq DESC LIMIT 1 OFFSET ?)",
            (tenant_id, tenant_id, DECISIONS_KEPT),
        )

    # -- budgets -------------------------------------------------------------------------------

    def save_budget(self, tenant_id: str, budget: Budget) -> None:
        self.db.execute(
            "INSERT INTO budgets (tenant_id, balance, allotment, as_of) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (tenant_id) DO UPDATE SET balance = excluded.balance, allotment = excluded.allotment,"
            " as_of = excluded.as_of",
            (tenant_id, budget.balance, budget.allotment, budget.as_of),
        )

    def budgets(self) -> dict[str, Budget]:
        return {r[0]: Budget(int(r[1]), int(r[2]), r[3]) for r in self.db.query("SELECT * FROM budgets")}

    def close(self) -> None:
        self.db.close()


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _by_name(columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    """A row's values by column name, JSON text decoded (NULL stays None)."""
    return {c: json.loads(v) if c in _JSON and v is not None else v for c, v in zip(columns, row, strict=True)}
