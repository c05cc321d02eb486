"""Policy: simulate a decision, list the tenant's recent decisions, publish and list policy set versions.

The gateway asks the policy service over core-NATS request/reply (`policy.v1.*`); a service
that does not answer in time is a 503, never a guess. A simulation and the decision list are
always about the caller's own tenant.

Reading (simulate, decisions, versions) needs `policy:read` (owners and admins). Policy sets
are global: one set decides for every tenant. Publishing one therefore needs two keys held by
different people: the deployment must allow it (`QUARRY_ALLOW_POLICY_PUBLISH=true`, set by the
operator, off by default) and the caller must hold `policy:publish`, which only the
`platform_admin` role carries; no tenant role and no API key has it, and the API never grants
it (an operator adds the role to a user in the gateway's store).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import subjects
from contracts.policy import (
    MAX_POLICY_SET_BYTES,
    DecisionRecord,
    DecisionsQuery,
    DecisionsReply,
    PolicyPublished,
    PolicyPublishedPayload,
    PolicyVerdict,
    PolicyVersionInfo,
    SimulatedContext,
    SimulatedPrincipal,
    SimulatedResource,
    SimulateReply,
    SimulateRequest,
    VersionsQuery,
    VersionsReply,
    policy_set_version,
)
from services.gateway.api.deps import AuditDep, ComponentsDep, PolicyPublisher, PolicyReader, requires
from services.gateway.api.requests import Peer
from services.gateway.errors import BadRequest, Forbidden, NotFound, Unavailable, Unprocessable, available

router = APIRouter(prefix="/v1/policy", tags=["policy"])
POLICY: Final = Peer("the policy service", timeout_s=2.0)
PUBLISH_WAIT_S: Final = 5.0
PUBLISH_POLL_S: Final = 0.1


class PublishSettings(BaseSettings):
    """Read per request, so an operator's change applies without restarting the gateway's code path."""

    model_config = SettingsConfigDict(env_prefix="QUARRY_", extra="ignore")
    allow_policy_publish: bool = False


class SimulatePrincipal(BaseModel):
    tenant_id: str | None = Field(default=None, description="must be the caller's tenant when given")
    agent: str = Field(default="policy-simulator", min_length=1, max_length=200)
    user_id: str | None = Field(default=None, description="the caller when unset")
    roles: list[str] | None = Field(default=None, max_length=20, description="the caller's roles when unset")
    plan: str = Field(default="free", max_length=50, description="the plan to decide for (a what-if)")


class SimulateBody(BaseModel):
    principal: SimulatePrincipal = Field(default_factory=SimulatePrincipal)
    action: Literal["invoke_tool"] = "invoke_tool"
    resource: SimulatedResource
    context: SimulatedContext = Field(default_factory=SimulatedContext)


class PublishBody(BaseModel):
    files: dict[str, str] = Field(min_length=1, description="a complete policy set: name -> text")
    comment: str = Field(default="", max_length=2000)


class PublishOutcome(BaseModel):
    version: str
    status: Literal["active", "rejected", "pending"]
    reason: str | None = None
    event_id: str


class DecisionsList(BaseModel):
    decisions: list[DecisionRecord]


@router.post("/simulate")
async def simulate(body: SimulateBody, who: PolicyReader, parts: ComponentsDep) -> PolicyVerdict:
    """What the policy service would decide, with no side effect (no rate limit used, nothing logged)."""
    asked = body.principal
    if asked.tenant_id is not None and asked.tenant_id != who.tenant_id:
        raise Forbidden("a simulation is about your own tenant only")
    request = SimulateRequest(
        principal=SimulatedPrincipal(
            tenant_id=who.tenant_id,
            agent=asked.agent,
            user_id=asked.user_id or who.user_id,
            roles=list(who.roles) if asked.roles is None else asked.roles,
            plan=asked.plan,
        ),
        resource=body.resource,
        context=body.context,
    )
    reply = await POLICY.ask(parts, subjects.POLICY_SIMULATE, request, SimulateReply)
    return available(reply.verdict, f"the policy service could not simulate: {reply.error or 'no verdict'}")


@router.get("/decisions")
async def decisions(
    who: PolicyReader, parts: ComponentsDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> DecisionsList:
    """The tenant's most recent real decisions, newest first."""
    reply = await POLICY.ask(
        parts, subjects.POLICY_DECISIONS, DecisionsQuery(tenant_id=who.tenant_id, limit=limit), DecisionsReply
    )
    if reply.error:
        raise Unavailable(f"the policy service could not list decisions: {reply.error}")
    return DecisionsList(decisions=reply.decisions)


@router.get("/versions", dependencies=[requires("policy:read")])
async def list_versions(parts: ComponentsDep) -> VersionsReply:
    """The version in force and every version published, newest first (without their files)."""
    reply = await POLICY.ask(parts, subjects.POLICY_VERSIONS, VersionsQuery(), VersionsReply)
    if reply.error:
        raise Unavailable(f"the policy service could not list versions: {reply.error}")
    return reply


@router.get("/versions/{version}", dependencies=[requires("policy:publish")])
async def get_version(version: str, parts: ComponentsDep) -> PolicyVersionInfo:
    """One version with its files (what to edit and publish as the next one)."""
    reply = await POLICY.ask(parts, subjects.POLICY_VERSIONS, VersionsQuery(version=version), VersionsReply)
    if reply.error:
        raise Unavailable(f"the policy service could not read the version: {reply.error}")
    if not reply.versions:
        raise NotFound(f"no policy version {version}")
    return reply.versions[0]


@router.post("/versions", status_code=201)
async def publish(
    body: PublishBody, who: PolicyPublisher, parts: ComponentsDep, response: Response, audit: AuditDep
) -> PublishOutcome:
    """Publish a complete policy set. 201 once it is in force, 422 with the reason if the policy
    service refused it (the old version stays), 202 if it has not answered within a few seconds."""
    if not PublishSettings().allow_policy_publish:
        raise Forbidden("publishing policy sets is disabled on this deployment (QUARRY_ALLOW_POLICY_PUBLISH)")
    size = sum(len(name) + len(text.encode()) for name, text in body.files.items())
    if size > MAX_POLICY_SET_BYTES:
        raise BadRequest(f"the set is {size} bytes; at most {MAX_POLICY_SET_BYTES}")
    version = policy_set_version(body.files)
    event = PolicyPublished.create(
        PolicyPublishedPayload(version=version, files=body.files, comment=body.comment),
        tenant_id=who.tenant_id,
        actor=who.actor(),
    )
    await parts.bus.publish(event)
    await audit("policy.published", version, comment=body.comment, event_id=event.event_id)
    found = await _outcome(parts, version, event.occurred_at)
    if found is None:
        response.status_code = 202
        return PublishOutcome(version=version, status="pending", event_id=event.event_id)
    if found.status == "rejected":
        raise Unprocessable(f"policy version {version} refused, the previous one stays in force: {found.reason}")
    return PublishOutcome(version=version, status="active", event_id=event.event_id)


async def _outcome(parts: ComponentsDep, version: str, published_at: datetime) -> PolicyVersionInfo | None:
    """The version's state once the policy service has handled this publication, if it does in time."""
    deadline = time.monotonic() + PUBLISH_WAIT_S
    while time.monotonic() < deadline:
        try:
            reply = await POLICY.ask(parts, subjects.POLICY_VERSIONS, VersionsQuery(version=version), VersionsReply)
        except Unavailable:
            reply = VersionsReply()  # published already: keep waiting for the service to come back
        info = reply.versions[0] if reply.versions else None
        # A version published before keeps its old row until this publication is handled.
        if info is not None and info.published_at >= published_at and info.status in ("active", "rejected"):
            return info
        await asyncio.sleep(PUBLISH_POLL_S)
    return None
