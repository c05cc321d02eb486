"""The run inspector: the task graph and the memory a run indexed, folded from its event log."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Final

from contracts import subjects
from contracts.billing import RunCreditsQuery, RunCreditsReply
from services.gateway.api.requests import ask
from services.gateway.application.runs import found_run
from services.gateway.disclosure import WITHHELD, may_see_draft
from services.gateway.domain.inspector import add_credits, memory, task_graph
from services.gateway.errors import Unavailable
from services.gateway.security import Principal

if TYPE_CHECKING:
    from services.gateway.api.deps import Components

log = logging.getLogger(__name__)

# The inspector answers without credits rather than wait on billing: a glance, not a bill.
CREDITS_TIMEOUT_S: Final = 1.5


async def run_tasks(parts: Components, who: Principal, run_id: str) -> dict[str, Any]:
    """The run's tasks with their attempts, policy decisions, usage and credits, and what it indexed
    (the draft's claims withheld from those who may not see the draft)."""
    view = await found_run(parts, who.tenant_id, run_id)
    events = await asyncio.to_thread(parts.store.run_events_of, who.tenant_id, run_id)
    indexed = memory(events)
    if not may_see_draft(who, view) and indexed["entries"]:
        indexed = indexed | {"entries": [], **WITHHELD}
    tasks = task_graph(events)
    credits = add_credits(tasks, events, await metered_credits(parts, who.tenant_id, run_id))
    return {"run_id": run_id, "tasks": tasks, "memory": indexed, "credits": credits}


async def metered_credits(parts: Components, tenant_id: str, run_id: str) -> dict[str, int] | None:
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
