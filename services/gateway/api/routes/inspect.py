"""The run inspector: the task graph and the memory a run indexed, folded from its event log."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path

from contracts import subjects
from contracts.billing import RunCreditsQuery, RunCreditsReply
from services.gateway.api.deps import ComponentsDep, requires
from services.gateway.api.requests import ask
from services.gateway.disclosure import WITHHELD, may_see_draft
from services.gateway.errors import NotFound, Unavailable
from services.gateway.inspector import add_credits, memory, task_graph
from services.gateway.security import Principal

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/runs", tags=["runs"])
RunReader = Annotated[Principal, requires("runs:read")]
MAX_ID_CHARS = 100
# The inspector answers without credits rather than wait on billing: a glance, not a bill.
CREDITS_TIMEOUT_S: Final = 1.5


@router.get("/{run_id}/tasks")
async def run_tasks(
    run_id: Annotated[str, Path(max_length=MAX_ID_CHARS)], who: RunReader, parts: ComponentsDep
) -> dict[str, Any]:
    """Each task with its attempts (start, end, outcome, duration), the policy decisions on the
    tools it asked for, and the memory the run indexed (its findings: the draft's claims, shown
    to those who may see the draft). A task's `usage` sums the usage records its worker reported
    (tokens in and out, search calls, seconds, models; overall and per tool); `usage_records`
    counts those its outcomes name. A task's `credits` are what billing metered for its usage
    records, and `credits` of the run their total; when billing does not answer in time, every
    task's `credits` is null and the run's `credits.available` is false."""
    view = await asyncio.to_thread(parts.store.run_view, who.tenant_id, run_id)
    if view is None:
        raise NotFound("run not found")
    events = await asyncio.to_thread(parts.store.run_events_of, who.tenant_id, run_id)
    indexed = memory(events)
    if not may_see_draft(who, view) and indexed["entries"]:
        indexed = indexed | {"entries": [], **WITHHELD}
    tasks = task_graph(events)
    credits = add_credits(tasks, events, await metered_credits(parts, who.tenant_id, run_id))
    return {"run_id": run_id, "tasks": tasks, "memory": indexed, "credits": credits}


async def metered_credits(parts: ComponentsDep, tenant_id: str, run_id: str) -> dict[str, int] | None:
    """Billing's credits for each usage record of the run; None when billing cannot tell now."""
    query = RunCreditsQuery(tenant_id=tenant_id, run_id=run_id)
    try:
        reply = await ask(
            parts, subjects.BILLING_RUN_CREDITS, query, RunCreditsReply, who="billing", timeout_s=CREDITS_TIMEOUT_S
        )
    except Unavailable as exc:
        log.info("credits of run %s unknown: %s", run_id, exc)
        return None
    if reply.error:
        log.warning("billing refused the credits of run %s: %s", run_id, reply.error)
        return None
    return reply.credits
