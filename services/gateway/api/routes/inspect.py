"""The run inspector: the task graph and the memory a run indexed, folded from its event log."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path

from services.gateway.api.deps import ComponentsDep, requires
from services.gateway.api.errors import NotFound
from services.gateway.disclosure import WITHHELD, may_see_draft
from services.gateway.inspector import memory, task_graph
from services.gateway.security import Principal

router = APIRouter(prefix="/v1/runs", tags=["runs"])
RunReader = Annotated[Principal, requires("runs:read")]
MAX_ID_CHARS = 100


@router.get("/{run_id}/tasks")
async def run_tasks(
    run_id: Annotated[str, Path(max_length=MAX_ID_CHARS)], who: RunReader, parts: ComponentsDep
) -> dict[str, Any]:
    """Each task with its attempts (start, end, outcome, duration), the policy decisions on the
    tools it asked for, and the memory the run indexed (its findings: the draft's claims, shown
    to those who may see the draft). A task's `usage` sums the usage records its worker reported
    (tokens in and out, search calls, seconds, models; overall and per tool); `usage_records`
    counts those its outcomes name. Credits are billing's, per run: see /v1/billing/summary's
    `used_by_run`."""
    view = await asyncio.to_thread(parts.store.run_view, who.tenant_id, run_id)
    if view is None:
        raise NotFound("run not found")
    events = await asyncio.to_thread(parts.store.run_events_of, who.tenant_id, run_id)
    indexed = memory(events)
    if not may_see_draft(who, view) and indexed["entries"]:
        indexed = indexed | {"entries": [], **WITHHELD}
    return {"run_id": run_id, "tasks": task_graph(events), "memory": indexed}
