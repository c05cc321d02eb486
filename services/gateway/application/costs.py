"""Cost attribution: a run's time, tokens, tool calls and credits per step, for the tenant's
readers and for the platform's operators (folded by `domain.costs` from the run's log, with the
credits billing metered for each usage record)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from services.gateway.application.inspection import metered_credits
from services.gateway.application.runs import found_run
from services.gateway.domain.costs import run_costs
from services.gateway.errors import NotFound

if TYPE_CHECKING:
    from services.gateway.api.deps import Components
    from services.gateway.security import Principal

# Tenant content an operator sees only with `ops:payload`, as in the event browser.
CONTENT_FIELDS = ("sub_question",)


async def _costs(parts: Components, tenant_id: str, run_id: str, state: str) -> dict[str, Any]:
    events = await asyncio.to_thread(parts.store.run_events_of, tenant_id, run_id)
    metered = await metered_credits(parts, tenant_id, run_id)
    return {"run_id": run_id, "tenant_id": tenant_id, "state": state, **run_costs(events, metered)}


async def costs_of_run(parts: Components, who: Principal, run_id: str) -> dict[str, Any]:
    """The costs of one of the reader's tenant's runs (404 for any other run)."""
    view = await found_run(parts, who.tenant_id, run_id)
    return await _costs(parts, who.tenant_id, run_id, str(view["state"]))


async def costs_for_operator(parts: Components, run_id: str, *, with_content: bool) -> dict[str, Any]:
    """The costs of any tenant's run; its sub-questions only for operators who may see payloads."""
    tenant_id = await asyncio.to_thread(parts.store.tenant_of_run, run_id)
    view = None if tenant_id is None else await asyncio.to_thread(parts.store.run_view, tenant_id, run_id)
    if tenant_id is None or view is None:
        raise NotFound(f"no run {run_id} in the gateway's run log")
    costs = await _costs(parts, tenant_id, run_id, str(view["state"]))
    if not with_content:
        costs["steps"] = [step | dict.fromkeys(CONTENT_FIELDS) for step in costs["steps"]]
    return costs
