"""Rollouts of agent versions: a candidate exposed to a growing share of tenants on guard metrics,
kept and decided by the orchestrator (the control plane); the gateway asks it over request/reply.

Reading needs `ops:read` (platform operators and admins); starting, pausing, resuming, aborting and
re-randomising need `rollouts:manage` (platform admins). Every use is on record before it is made
(`services.gateway.api.ops_access`), and each change after it (`ops.rollout.started`, `.paused`,
`.resumed`, `.aborted`, `.rerandomised`). The orchestrator's refusals keep their status (404, 409,
422, 400); no answer in time is a 503, never a guess.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Path, Query, Request

from contracts import subjects
from contracts.agents import Component
from contracts.rollouts import (
    RolloutAction,
    RolloutCommandRequest,
    RolloutInfo,
    RolloutReply,
    RolloutSpec,
    RolloutsQuery,
    RolloutsReply,
    StartRolloutRequest,
)
from services.gateway.api.deps import ComponentsDep
from services.gateway.api.models.rollouts import RolloutCommand, RolloutList, RolloutStart
from services.gateway.api.ops_access import OPERATOR, ROLLOUT_MANAGER, RolloutManager, record_action
from services.gateway.api.orchestrator import ORCHESTRATOR, answer, refused
from services.gateway.errors import NotFound

# What each command leaves in the platform's audit log once the orchestrator took it.
RECORDED: Final[dict[str, str]] = {
    "pause": "ops.rollout.paused",
    "resume": "ops.rollout.resumed",
    "abort": "ops.rollout.aborted",
    "rerandomise": "ops.rollout.rerandomised",
}
STARTED: Final = "ops.rollout.started"
# A rollout's id in a path: bounded (the contract's own limit) and plain, so nothing odd is asked.
RolloutId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]

reads = APIRouter(prefix="/v1/ops/rollouts", tags=["ops"], dependencies=[OPERATOR])
writes = APIRouter(prefix="/v1/ops/rollouts", tags=["ops"], dependencies=[ROLLOUT_MANAGER])
router = APIRouter()


@reads.get("")
async def list_rollouts(
    parts: ComponentsDep,
    component: Annotated[Component | None, Query(description="only this component's rollouts")] = None,
) -> RolloutList:
    """Every rollout (or one component's), newest first, with its decisions and latest look."""
    reply = await ORCHESTRATOR.ask(parts, subjects.ROLLOUT_QUERY, RolloutsQuery(component=component), RolloutsReply)
    if reply.error:
        refused(reply.error, reply.status)
    return RolloutList(rollouts=reply.rollouts)


@reads.get("/{rollout_id}")
async def read_rollout(rollout_id: RolloutId, parts: ComponentsDep) -> RolloutInfo:
    """One rollout: its stage, split, spec, every decision with the numbers behind it, and the
    guards as the latest look saw them."""
    reply = await ORCHESTRATOR.ask(parts, subjects.ROLLOUT_QUERY, RolloutsQuery(rollout_id=rollout_id), RolloutsReply)
    if reply.error:
        refused(reply.error, reply.status)
    found = [r for r in reply.rollouts if r.rollout_id == rollout_id]
    if not found:
        raise NotFound("no such rollout")
    return found[0]


@writes.post("", status_code=201)
async def start_rollout(body: RolloutStart, request: Request, parts: ComponentsDep, who: RolloutManager) -> RolloutInfo:
    """Start a rollout of `candidate` against the component's stable version: 201 with it. Refused
    (422) unless the candidate is registered and passed the eval gate; 409 while another rollout
    of the component is under way."""
    ask = StartRolloutRequest(
        spec=RolloutSpec.model_validate(body.model_dump(exclude={"note"})),
        note=body.note,
        tenant_id=who.tenant_id,
        actor=who.actor(),
    )
    started = _rollout(await ORCHESTRATOR.ask(parts, subjects.ROLLOUT_START, ask, RolloutReply))
    await record_action(
        request,
        parts,
        who,
        STARTED,
        rollout_id=started.rollout_id,
        component=started.component,
        candidate=started.candidate,
        stable=started.stable,
    )
    return started


@writes.post("/{rollout_id}/{action}")
async def command_rollout(
    rollout_id: RolloutId,
    action: RolloutAction,
    request: Request,
    parts: ComponentsDep,
    who: RolloutManager,
    body: RolloutCommand | None = None,
) -> RolloutInfo:
    """`pause` (no decision until resumed; harm still rolls back), `resume`, `abort` (every tenant
    back on the stable version) or `rerandomise` (a new salt: every tenant's bucket drawn again).
    409 when the rollout's state does not allow it, 404 for an unknown rollout."""
    note = body.note if body is not None else ""
    ask = RolloutCommandRequest(
        rollout_id=rollout_id,
        action=action,
        note=note,
        tenant_id=who.tenant_id,
        actor=who.actor(),
    )
    done = _rollout(await ORCHESTRATOR.ask(parts, subjects.ROLLOUT_COMMAND, ask, RolloutReply))
    await record_action(
        request, parts, who, RECORDED[action], rollout_id=rollout_id, status=done.status, percent=done.percent
    )
    return done


def _rollout(reply: RolloutReply) -> RolloutInfo:
    return answer(reply, reply.rollout, "rollout")


router.include_router(reads)
router.include_router(writes)
