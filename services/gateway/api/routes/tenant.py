"""The caller's tenant: its settings (who may change them: owners and admins)."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from contracts.work import SourceKind
from services.gateway.api.deps import AuditDep, ComponentsDep, CurrentPrincipal, requires
from services.gateway.api.models.tenant import TenantSettingsPublic

router = APIRouter(prefix="/v1/tenant", tags=["tenant"])


class TenantSettingsUpdate(BaseModel):
    approval_required: bool | None = Field(default=None, description="runs stop for approval before publishing")
    approval_timeout_s: int | None = Field(default=None, ge=5, le=90 * 24 * 3600, description="then the run expires")
    pii_policy: Literal["redact", "block"] | None = Field(
        default=None, description="PII found in a report: redact it, or block publishing"
    )
    sources: list[SourceKind] | None = Field(
        default=None, min_length=1, description="where runs search unless they say: corpus, datasets, web"
    )


@router.get("/settings", dependencies=[requires("settings:read")])
async def get_settings(who: CurrentPrincipal, parts: ComponentsDep) -> TenantSettingsPublic:
    """The tenant's run defaults."""
    return TenantSettingsPublic.model_validate(await asyncio.to_thread(parts.store.tenant_settings, who.tenant_id))


@router.patch("/settings", dependencies=[requires("settings:write")])
async def update_settings(
    body: TenantSettingsUpdate, who: CurrentPrincipal, parts: ComponentsDep, audit: AuditDep
) -> TenantSettingsPublic:
    """Change the tenant's run defaults; they apply to runs requested afterwards."""
    current = await asyncio.to_thread(parts.store.tenant_settings, who.tenant_id)
    required = current["approval_required"] if body.approval_required is None else body.approval_required
    timeout = current["approval_timeout_s"] if body.approval_timeout_s is None else body.approval_timeout_s
    await asyncio.to_thread(parts.store.update_tenant_settings, who.tenant_id, required, timeout)
    if body.pii_policy is not None:
        await asyncio.to_thread(parts.store.update_pii_policy, who.tenant_id, body.pii_policy)
    if body.sources is not None:
        await asyncio.to_thread(parts.store.update_sources, who.tenant_id, list(body.sources))
    await audit("settings.changed", None, **body.model_dump(mode="json", exclude_none=True))
    return TenantSettingsPublic.model_validate(await asyncio.to_thread(parts.store.tenant_settings, who.tenant_id))
