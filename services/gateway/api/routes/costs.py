"""Cost attribution: a run's time, tokens, tool calls and credits per step, for its tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from services.gateway.api.deps import ComponentsDep, RunReader
from services.gateway.api.models.costs import RunCostsPublic
from services.gateway.application import costs

router = APIRouter(prefix="/v1/runs", tags=["runs"])
MAX_ID_CHARS = 100


@router.get("/{run_id}/costs")
async def run_costs(
    run_id: Annotated[str, Path(max_length=MAX_ID_CHARS)], who: RunReader, parts: ComponentsDep
) -> RunCostsPublic:
    """Each step of the run (a task: its kind, sub-question, attempts) with its wall time, tokens
    in and out per model, tool calls and credits: what billing metered for its usage and, once
    billing closed the run's reservation, what of it was charged and what refunded (the steps'
    charges add up to what billing settled). `totals` sums them for the run beside billing's own
    reserved, settled and released figures. When billing does not answer in time, the credits
    it meters are null and `totals.credits.available` is false."""
    return RunCostsPublic.model_validate(await costs.costs_of_run(parts, who, run_id))
