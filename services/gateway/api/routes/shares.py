"""Share links: a finished report shown read-only, without an account, until the link is revoked.

A link's token is shown once, when it is made; the store keeps its fingerprint only. What the
public endpoint shows is the report and its sources, nothing else of the workspace (no run id,
no tenant, no steps, costs or people).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from contracts.ids import new_id
from quarry_runtime.artifacts import ArtifactNotFound, report_key
from services.gateway.api.deps import AuditDep, ComponentsDep, requires
from services.gateway.api.models.shares import ShareCreatedPublic, ShareListPublic
from services.gateway.errors import Conflict, NotFound
from services.gateway.security import Principal, fingerprint, new_one_time_secret
from services.gateway.shares import MAX_SHARES_PER_RUN, SHARE_TOKEN_PREFIX, report_sources

router = APIRouter(prefix="/v1", tags=["shares"])
Sharer = Annotated[Principal, requires("runs:share")]
RunReader = Annotated[Principal, requires("runs:read")]
MAX_ID_CHARS = 100
# What the public answer may be kept as: nowhere, so a revoked link shows nothing from the next request on.
PUBLIC_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}
NOT_SHARED = "no such shared report (the link is unknown or was revoked)"


@router.post("/runs/{run_id}/shares", status_code=201)
async def create_share(
    run_id: Annotated[str, Path(max_length=MAX_ID_CHARS)], who: Sharer, parts: ComponentsDep, audit: AuditDep
) -> ShareCreatedPublic:
    """A read-only link to the run's report (only a run that has one); the token is shown this once."""
    view = await asyncio.to_thread(parts.store.run_view, who.tenant_id, run_id)
    if view is None:
        raise NotFound("run not found")
    if not view.get("report"):
        raise Conflict(f"only a run with a report can be shared (state: {view['state']})")
    token = new_one_time_secret(SHARE_TOKEN_PREFIX)
    share = await asyncio.to_thread(
        parts.store.shares.create, new_id(), fingerprint(token), who.tenant_id, run_id, who.user_id
    )
    if share is None:
        raise Conflict(f"the run already has {MAX_SHARES_PER_RUN} live share links; revoke some first")
    await audit("share.created", share["share_id"], run_id=run_id)
    return ShareCreatedPublic(
        share_id=share["share_id"], token=token, url=f"/share/{token}", created_at=share["created_at"]
    )


@router.get("/runs/{run_id}/shares")
async def list_shares(
    run_id: Annotated[str, Path(max_length=MAX_ID_CHARS)], who: RunReader, parts: ComponentsDep
) -> ShareListPublic:
    """The run's live share links (without their tokens, which are not kept)."""
    if await asyncio.to_thread(parts.store.run_view, who.tenant_id, run_id) is None:
        raise NotFound("run not found")
    shares = await asyncio.to_thread(parts.store.shares.of_run, who.tenant_id, run_id)
    return ShareListPublic.model_validate({"shares": shares})


@router.delete("/shares/{share_id}", status_code=204)
async def revoke_share(
    share_id: Annotated[str, Path(max_length=MAX_ID_CHARS)], who: Sharer, parts: ComponentsDep, audit: AuditDep
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
) -> dict[str, Any]:
    """Public, no account: the shared report's question, title, completion time, Markdown and sources."""
    found = await asyncio.to_thread(parts.store.shares.resolve, fingerprint(token))
    if found is None:
        raise NotFound(NOT_SHARED)
    tenant_id, run_id = found
    view = await asyncio.to_thread(parts.store.run_view, tenant_id, run_id)
    report = (view or {}).get("report") or {}
    markdown_ref = report.get("markdown") or {}
    if view is None or not markdown_ref:
        raise NotFound(NOT_SHARED)
    try:
        # The place comes from the link's own ids; the event's hash still has to match.
        data = parts.artifacts.get(report_key(tenant_id, run_id, "md"), str(markdown_ref["sha256"]))
    except (ArtifactNotFound, ValueError, KeyError) as exc:
        raise NotFound(NOT_SHARED) from exc
    markdown = data.decode("utf-8", errors="replace")
    response.headers.update(PUBLIC_HEADERS)
    return {
        "question": view.get("question"),
        "title": report.get("title"),
        "completed_at": await asyncio.to_thread(parts.store.shares.completed_at, tenant_id, run_id),
        "report_markdown": markdown,
        "sources": report_sources(markdown, list(view.get("sources") or [])),
    }
