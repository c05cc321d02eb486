"""The gateway's tables in one store: its own state (tenants, identity, shares, templates) and
the read models built from the bus (runs, documents, datasets, questions)."""

from __future__ import annotations

from quarry_runtime.store import SqlDatabase
from services.gateway.accounts import AccountStore
from services.gateway.adapters.audit import AuditStore
from services.gateway.adapters.dead_letter_actions import DeadLetterActions
from services.gateway.adapters.operators import OperatorRoles
from services.gateway.adapters.platform_audit import PlatformAudit
from services.gateway.adapters.replay_records import ReplayRecords
from services.gateway.adapters.shares import ShareStore
from services.gateway.readmodels.datasets import DatasetStore
from services.gateway.readmodels.documents import Documents
from services.gateway.readmodels.questions import QuestionStore
from services.gateway.readmodels.run_queries import RunQueries
from services.gateway.readmodels.runs import RunLog
from services.gateway.readmodels.tables import checked_prefix
from services.gateway.readmodels.tenants import TenantSettings
from services.gateway.templates import TemplateStore


class GatewayStore(TenantSettings, RunLog, RunQueries, Documents):
    """`prefix` names a second set of read-model tables, so `quarry replay` can rebuild beside the live ones.

    Tenants, users and settings are the gateway's own state, not rebuilt from the bus: they are never prefixed.
    """

    def __init__(self, db: SqlDatabase, prefix: str = "") -> None:
        self.db = db
        self.prefix = checked_prefix(prefix)
        self.accounts = AccountStore(db)
        self.audit = AuditStore(db)
        self.platform_audit = PlatformAudit(db)
        self.operators = OperatorRoles(db, self.platform_audit)
        self.dead_letters = DeadLetterActions(db)
        self.replays = ReplayRecords(db)
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

    def drop_read_models(self) -> None:
        """Drop this prefix's read-model tables; the live ones (no prefix) are never dropped this way."""
        if not self.prefix:
            raise ValueError("refusing to drop the live read models")
        for table in (self.runs, self.run_events, self.documents):
            self.db.execute(f"DROP TABLE IF EXISTS {table}")
        self.questions.drop()
        self.datasets.drop()
