"""The tenant's own settings (approvals, PII policy, sources): the gateway's state, never rebuilt."""

from __future__ import annotations

import json
from typing import Any

from quarry_runtime.store import SqlDatabase

DEFAULT_APPROVAL_TIMEOUT_S = 7 * 24 * 3600


class TenantSettings:
    """The tenant_* tables `GatewayStore` creates."""

    db: SqlDatabase

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
