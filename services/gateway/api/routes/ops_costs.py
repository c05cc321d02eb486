"""The operators' cost attribution of any tenant's run; checked and audited as every ops route
(`OPERATOR`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from services.gateway.api.deps import ComponentsDep
from services.gateway.api.models.costs import RunCostsPublic
from services.gateway.api.ops_access import OPERATOR
from services.gateway.application import costs
from services.gateway.security import Principal

router = APIRouter(prefix="/v1/ops", tags=["ops"], dependencies=[OPERATOR])
Caller = Annotated[Principal, OPERATOR]  # the router's own check, made once a request


@router.get("/runs/{run_id}/costs")
async def run_costs(run_id: Annotated[str, Path(max_length=128)], parts: ComponentsDep, who: Caller) -> RunCostsPublic:
    """What `GET /v1/runs/{run_id}/costs` answers its tenant, for any tenant's run; the steps'
    sub-questions (the tenant's words) only to operators who may read payloads."""
    found = await costs.costs_for_operator(parts, run_id, with_content=who.can("ops:payload"))
    return RunCostsPublic.model_validate(found)
