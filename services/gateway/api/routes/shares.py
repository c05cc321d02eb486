"""Share links: a finished report shown read-only, without an account, until the link is revoked.

A link's token is shown once, when it is made; the store keeps its fingerprint only. What the
public endpoint shows is the report and its sources, nothing else of the workspace (no run id,
no tenant, no steps, costs or people).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Response

from services.gateway.api.deps import AuditDep, ComponentsDep, RunReader, RunSharer
from services.gateway.api.models.shares import ShareCreatedPublic, SharedReportPublic, ShareListPublic
from services.gateway.application import shares
from services.gateway.application.runs import found_run
from services.gateway.errors import NotFound

router = APIRouter(prefix="/v1", tags=["shares"])
MAX_ID_CHARS = 100
# What the public answer may be kept as: nowhere, so a revoked link shows nothing from the next request on.
PUBLIC_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}


@router.post("/runs/{run_id}/shares", status_code=201)
async def create_share(
    run_id: Annotated[str, Path(max_length=MAX_ID_CHARS)], who: RunSharer, parts: ComponentsDep, audit: AuditDep
) -> ShareCreatedPublic:
    """A read-only link to the run's report (only a run that has one); the token is shown this once."""
    share, token = await shares.create_share(parts, who, run_id)
    await audit("share.created", share["share_id"], run_id=run_id)
    return ShareCreatedPublic(
        share_id=share["share_id"], token=token, url=f"/share/{token}", created_at=share["created_at"]
    )


@router.get("/runs/{run_id}/shares")
async def list_shares(
    run_id: Annotated[str, Path(max_length=MAX_ID_CHARS)], who: RunReader, parts: ComponentsDep
) -> ShareListPublic:
    """The run's live share links (without their tokens, which are not kept)."""
    await found_run(parts, who.tenant_id, run_id)
    links = await asyncio.to_thread(parts.store.shares.of_run, who.tenant_id, run_id)
    return ShareListPublic.model_validate({"shares": links})


@router.delete("/shares/{share_id}", status_code=204)
async def revoke_share(
    share_id: Annotated[str, Path(max_length=MAX_ID_CHARS)], who: RunSharer, parts: ComponentsDep, audit: AuditDep
) -> Response:
    """Revoke a link: every replica refuses it from the next request on."""
    run_id = await asyncio.to_thread(parts.store.shares.revoke, who.tenant_id, share_id)
    if run_id is None:
        raise NotFound("share link not found")
    await audit("share.revoked", share_id, run_id=run_id)
    return Response(status_code=204)


@router.get("/shared/{token}")
async def shared_report(
    token: Annotated[str, Path(min_length=1, max_length=MAX_ID_CHARS)], parts: ComponentsDep, response: Response
) -> SharedReportPublic:
    """Public, no account: the shared report's question, title, completion time, Markdown and sources."""
    answer = await shares.shared_report(parts, token)
    response.headers.update(PUBLIC_HEADERS)
    return SharedReportPublic.model_validate(answer)
