"""Agent versions: the immutable, content-hashed configurations of the components whose behaviour
can change (planner, synthesiser, answerer, ranker), kept by the orchestrator (the control plane).

Listing needs `ops:read` (platform operators and admins) and registering `agents:register`
(platform admins); every use is on record before it is made, like every `/v1/ops/` route
(`services.gateway.api.ops_access`), and each registration after it (`ops.agent.registered`).
Recording a version's offline evaluation (the eval gate a rollout needs) is a registrar's too
(`ops.agent.evaluated`).
The gateway asks the orchestrator over request/reply: a registration is answered with its
version once stored, or refused with the reason; no answer in time is a 503, never a guess.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Path, Request, Response

from contracts import subjects
from contracts.agents import (
    AgentVersionsQuery,
    AgentVersionsReply,
    Component,
    FaultNotAllowed,
    RecordEvaluationReply,
    RecordEvaluationRequest,
    RegisterAgentReply,
    RegisterAgentRequest,
    ensure_allowed_in,
)
from services.gateway.api.deps import ComponentsDep
from services.gateway.api.models.agents import (
    AgentEvaluation,
    AgentRegistered,
    AgentRegistration,
    AgentVersionList,
    EvaluationRecord,
)
from services.gateway.api.ops_access import OPERATOR, REGISTRAR, Registrar, record_action
from services.gateway.api.orchestrator import ORCHESTRATOR, answer, refused
from services.gateway.errors import Unprocessable

REGISTERED: Final = "ops.agent.registered"
EVALUATED: Final = "ops.agent.evaluated"
# A version in a path: the content hash, nothing else reaches the orchestrator.
VersionPath = Annotated[str, Path(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")]

reads = APIRouter(prefix="/v1/ops/agents", tags=["ops"], dependencies=[OPERATOR])
writes = APIRouter(prefix="/v1/ops/agents", tags=["ops"], dependencies=[REGISTRAR])
router = APIRouter()


@reads.get("")
async def list_agent_versions(parts: ComponentsDep) -> AgentVersionList:
    """Every registered version of every component, per component, oldest first."""
    return await _versions(parts, None)


@reads.get("/{component}")
async def list_component_versions(component: Component, parts: ComponentsDep) -> AgentVersionList:
    """The registered versions of one component, oldest first."""
    return await _versions(parts, component)


@writes.post("", status_code=201)
async def register_agent_version(
    body: AgentRegistration, request: Request, response: Response, parts: ComponentsDep, who: Registrar
) -> AgentRegistered:
    """Register a configuration of a component: 201 with its version, or 200 with the same version
    when that configuration was registered before (nothing changes). A configuration that injects
    faults is refused (422) unless the deployment is a development one."""
    try:
        ensure_allowed_in(parts.settings.environment, body.config)
    except FaultNotAllowed as exc:
        raise Unprocessable(f"{exc}: faults are for tests and demos (QUARRY_ENVIRONMENT=development)") from exc
    ask = RegisterAgentRequest(
        component=body.component,
        config=body.config,
        note=body.note,
        tenant_id=who.tenant_id,
        actor=who.actor(),
    )
    reply = await ORCHESTRATOR.ask(parts, subjects.AGENT_REGISTER, ask, RegisterAgentReply)
    registered = AgentRegistered(
        component=body.component, version=answer(reply, reply.version, "version"), created=reply.created
    )
    await record_action(
        request, parts, who, REGISTERED, component=body.component, version=registered.version, created=reply.created
    )
    if not reply.created:
        response.status_code = 200
    return registered


@writes.post("/{component}/{version}/evaluations", status_code=201)
async def record_evaluation(
    component: Component,
    version: VersionPath,
    body: EvaluationRecord,
    request: Request,
    parts: ComponentsDep,
    who: Registrar,
) -> AgentEvaluation:
    """Store the offline evaluation of a registered version (`make eval`'s metrics, computed for
    that configuration without its faults); the orchestrator judges it against the eval gate and
    answers whether it passed. 404 for a version it does not know."""
    ask = RecordEvaluationRequest(
        component=component,
        version=version,
        split=body.split,
        metrics=body.metrics,
        tenant_id=who.tenant_id,
        actor=who.actor(),
    )
    reply = await ORCHESTRATOR.ask(parts, subjects.AGENT_EVALUATION, ask, RecordEvaluationReply)
    done = answer(reply, reply.evaluation, "evaluation")
    await record_action(
        request, parts, who, EVALUATED, component=component, version=version, split=done.split, passed=done.passed
    )
    return AgentEvaluation.model_validate(done.model_dump())


async def _versions(parts: ComponentsDep, component: str | None) -> AgentVersionList:
    query = AgentVersionsQuery.model_validate({"component": component})
    reply = await ORCHESTRATOR.ask(parts, subjects.AGENT_VERSIONS, query, AgentVersionsReply)
    if reply.error:
        refused(reply.error, reply.status)
    return AgentVersionList(versions=reply.versions)


router.include_router(reads)
router.include_router(writes)
