"""The tenant's audit log, for owners and admins."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from services.gateway.api.deps import AuditReader, ComponentsDep
from services.gateway.api.models.audit import AuditPagePublic

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("")
async def audit_log(
    who: AuditReader,
    parts: ComponentsDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="the last `seq` already read")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    kind: Annotated[
        str | None, Query(pattern=r"^[a-z_]{1,40}(\.[a-z_]{1,40})?$", description="a kind, or an area: member")
    ] = None,
) -> AuditPagePublic:
    """Who changed what in the tenant, when and from where, oldest first; page with `after`."""
    entries = await asyncio.to_thread(parts.store.audit.entries, who.tenant_id, after=after, limit=limit, kind=kind)
    return AuditPagePublic.model_validate({"entries": entries, "next_after": entries[-1]["seq"] if entries else after})
