"""Research runs: request, list, inspect, cancel, approve, review the plan."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from contracts.ids import new_id
from quarry_runtime.logs import bind
from quarry_runtime.spans import name_scope
from services.gateway.api.bounds import MAX_OFFSET
from services.gateway.api.deps import AuditDep, ComponentsDep, requires
from services.gateway.api.direct import DirectRoute
from services.gateway.api.models.runs import (
    ApprovalCreate,
    ApprovalDecisionPublic,
    CancelCreate,
    CancelPublic,
    PlanReviewCreate,
    PlanReviewPublic,
    RunAccepted,
    RunCreate,
    RunListPublic,
    RunPublic,
)
from services.gateway.application import plan_review, runs
from services.gateway.disclosure import may_see_draft, view_for_reader
from services.gateway.security import Principal

router = APIRouter(prefix="/v1/runs", tags=["runs"])

MAX_SEARCH_CHARS = 200
RunReader = Annotated[Principal, requires("runs:read")]
RunCreator = Annotated[Principal, requires("runs:create")]
RunCanceller = Annotated[Principal, requires("runs:cancel")]
Approver = Annotated[Principal, requires("runs:approve")]
PlanReviewer = Annotated[Principal, requires("runs:review_plan")]


async def request_run(body: RunCreate, who: RunCreator, parts: ComponentsDep) -> RunAccepted:
    """Accept a research question; the run proceeds asynchronously."""
    run_id = new_id()
    # On the request's server span (the run's trace's root): a span of its own would cost more
    # than the attributes say. The publish's span and the log lines take them from the scope.
    bind(who.tenant_id, run_id)
    name_scope(who.tenant_id, run_id)
    return await runs.request_run(parts, who, run_id, body)


# Every admission comes here: served without FastAPI's per-request dependency solving (see api.direct).
router.add_api_route("", request_run, methods=["POST"], status_code=202, route_class_override=DirectRoute)


@router.get("")
async def list_runs(
    who: RunReader,
    parts: ComponentsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    q: Annotated[
        str | None, Query(max_length=MAX_SEARCH_CHARS, description="text the question or the report title contains")
    ] = None,
    state: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$", description="only runs in this state")] = None,
) -> RunListPublic:
    """The caller's tenant's runs, newest first; `q` searches the question and the report
    title (case-insensitive)."""
    text = q.strip() if q else None
    found = await asyncio.to_thread(parts.store.list_runs, who.tenant_id, limit, offset, q=text or None, state=state)
    return RunListPublic.model_validate({"runs": found, "limit": limit, "offset": offset})


@router.get("/{run_id}", response_model_exclude_unset=True)
async def get_run(run_id: str, who: RunReader, parts: ComponentsDep) -> RunPublic:
    """State, steps, sources and cost of one run of the caller's tenant (the draft's sources
    only to approvers until the report is published)."""
    view = await runs.found_run(parts, who.tenant_id, run_id)
    return RunPublic.model_validate(view_for_reader(view, may_see_draft(who, view)))


@router.post("/{run_id}/cancel", status_code=202)
async def cancel_run(run_id: str, body: CancelCreate, who: RunCanceller, parts: ComponentsDep) -> CancelPublic:
    """Stop the run at its next step boundary; unused credits are refunded. Members may cancel
    the runs they requested; owners and admins any run of the tenant."""
    return CancelPublic.model_validate(await runs.cancel_run(parts, who, run_id, body))


@router.post("/{run_id}/approval", status_code=202)
async def decide_approval(
    run_id: str, body: ApprovalCreate, who: Approver, parts: ComponentsDep
) -> ApprovalDecisionPublic:
    """Approve or reject what a waiting run asks for; who, when and why are recorded as events."""
    return ApprovalDecisionPublic.model_validate(await runs.decide_approval(parts, who, run_id, body))


@router.post("/{run_id}/plan", status_code=202)
async def review_plan(
    run_id: str, body: PlanReviewCreate, who: PlanReviewer, parts: ComponentsDep, audit: AuditDep
) -> PlanReviewPublic:
    """Continue a run waiting for its plan's review with the sub-questions (edited or not), or
    cancel it (unused credits are refunded). Who may is decided by the policy service's Cedar
    policies (action `review_plan`: the run's requester, the tenant's owners and admins); who,
    when and what are recorded in the run's log and the audit log."""
    return PlanReviewPublic.model_validate(await plan_review.review_plan(parts, who, run_id, body, audit))
