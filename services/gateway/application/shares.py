"""Share links: make one for a run with a report, and show the report behind one."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from contracts.ids import new_id
from quarry_runtime.artifacts import ArtifactNotFound, report_key
from services.gateway.adapters.shares import MAX_SHARES_PER_RUN, SHARE_TOKEN_PREFIX, report_sources
from services.gateway.application.runs import found_run
from services.gateway.errors import Conflict, NotFound
from services.gateway.security import Principal, fingerprint, new_one_time_secret

if TYPE_CHECKING:
    from services.gateway.api.deps import Components

NOT_SHARED = "no such shared report (the link is unknown or was revoked)"


async def create_share(parts: Components, who: Principal, run_id: str) -> tuple[dict[str, Any], str]:
    """A new link to the run's report: the stored share and its token (shown this once)."""
    view = await found_run(parts, who.tenant_id, run_id)
    if not view.get("report"):
        raise Conflict(f"only a run with a report can be shared (state: {view['state']})")
    token = new_one_time_secret(SHARE_TOKEN_PREFIX)
    share = await asyncio.to_thread(
        parts.store.shares.create, new_id(), fingerprint(token), who.tenant_id, run_id, who.user_id
    )
    if share is None:
        raise Conflict(f"the run already has {MAX_SHARES_PER_RUN} live share links; revoke some first")
    return share, token


async def shared_report(parts: Components, token: str) -> dict[str, Any]:
    """The report a live link shows: question, title, completion time, Markdown and sources."""
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
    return {
        "question": view.get("question"),
        "title": report.get("title"),
        "completed_at": await asyncio.to_thread(parts.store.shares.completed_at, tenant_id, run_id),
        "report_markdown": markdown,
        "sources": report_sources(markdown, list(view.get("sources") or [])),
    }
