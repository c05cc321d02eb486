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
        """The tenant's settings, its defaults where it set none."""
        # One statement for the three tables: every run admission reads them.
        row = self.db.one(
            "SELECT (SELECT approval_required FROM tenant_settings WHERE tenant_id = ?),"
            " (SELECT approval_timeout_s FROM tenant_settings WHERE tenant_id = ?),"
            " (SELECT pii_policy FROM tenant_guardrails WHERE tenant_id = ?),"
            " (SELECT sources FROM tenant_sources WHERE tenant_id = ?)",
            (tenant_id, tenant_id, tenant_id, tenant_id),
        )
        required, timeout_s, pii_policy, sources = row if row is not None else (None, None, None, None)
        return {
            "approval_required": bool(required) if required is not None else False,
            "approval_timeout_s": int(timeout_s) if timeout_s is not None else DEFAULT_APPROVAL_TIMEOUT_S,
            "pii_policy": str(pii_policy) if pii_policy is not None else "redact",
            # None: the platform's default (the shared corpus and the tenant's documents).
            "sources": json.loads(sources) if sources is not None else None,
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
