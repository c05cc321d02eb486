"""The platform's audit log, for platform admins (`ops:audit`): who was made an operator or
stopped being one, and every use of the `/v1/ops/` routes, newest first. Reading it is on record
as well, so no one looks at who looked without leaving a trace."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from services.gateway.adapters.platform_audit import KINDS
from services.gateway.api.bounds import MAX_SEQUENCE
from services.gateway.api.deps import ComponentsDep
from services.gateway.api.models.audit import PlatformAuditPagePublic
from services.gateway.api.ops_access import AUDITOR
from services.gateway.errors import BadRequest

router = APIRouter(prefix="/v1/ops/audit", tags=["ops"], dependencies=[AUDITOR])


@router.get("")
async def platform_audit_log(
    parts: ComponentsDep,
    before: Annotated[int | None, Query(ge=1, le=MAX_SEQUENCE, description="the oldest `seq` already read")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    kind: Annotated[str | None, Query(max_length=40, description="one kind of entry")] = None,
    actor: Annotated[str | None, Query(max_length=320, description="one operator's email, or a `cli:` name")] = None,
) -> PlatformAuditPagePublic:
    """Grants, revocations and operators' uses of the ops routes, newest first; page with `before`."""
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"unknown kind {kind!r}: one of {', '.join(sorted(KINDS))}")
    entries = await asyncio.to_thread(
        parts.store.platform_audit.newest, before=before, limit=limit, kind=kind, actor=actor
    )
    more = len(entries) == limit and entries[-1]["seq"] > 1
    return PlatformAuditPagePublic.model_validate(
        {"entries": entries, "next_before": entries[-1]["seq"] if more else None}
    )
