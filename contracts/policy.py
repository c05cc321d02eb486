"""Policy sets and their versions, and the request/reply messages of the policy service.

A policy set is a complete set of files: the Cedar schema, the tool registry, the hard
policies (`<name>.cedar`) and the soft ones (`soft/<name>.cedar`). Its version is a digest of
every file's name and content, so the gateway can name a version before the policy service
has seen it, and the service can check that the files it got are the ones that were named.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from contracts import subjects
from contracts.envelope import Contract, Event
from contracts.numbers import Count, Milliseconds
from contracts.tool import Decision

SCHEMA_FILE = "schema.cedarschema.json"
REGISTRY_FILE = "registry.yaml"
SOFT_DIR = "soft"
MAX_POLICY_SET_BYTES = 512 * 1024


def policy_set_version(files: Mapping[str, str]) -> str:
    """A short digest of every file's name and content: any edit anywhere yields a new version."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(files[name].encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


# -- events ----------------------------------------------------------------------------------


class PolicyPublishedPayload(Contract):
    version: str = Field(min_length=1, description="policy_set_version(files); checked by the policy service")
    files: dict[str, str] = Field(description="file name -> text; a complete set, nothing is carried over")
    comment: str = Field(default="", max_length=2000)


class PolicyPublished(Event, subject=subjects.POLICY_PUBLISHED, type="policy.published"):
    """A platform admin asks for a new policy set; the tenant and actor say who asked."""

    payload: PolicyPublishedPayload


class PolicyActivatedPayload(Contract):
    version: str
    previous_version: str | None = None


class PolicyActivated(Event, subject=subjects.POLICY_ACTIVATED, type="policy.activated"):
    """Decisions from now on use `version`; every replica switches when it hears this."""

    payload: PolicyActivatedPayload


class PolicyRejectedPayload(Contract):
    version: str
    reason: str
    active_version: str = Field(description="the version that stays in force")


class PolicyRejected(Event, subject=subjects.POLICY_REJECTED, type="policy.rejected"):
    payload: PolicyRejectedPayload


# -- request / reply (core NATS, not stored in a stream) --------------------------------------


class SimulatedPrincipal(Contract):
    tenant_id: str = Field(min_length=1)
    agent: str = Field(default="policy-simulator", min_length=1, max_length=200)
    user_id: str | None = Field(default=None, max_length=200)
    roles: list[str] = Field(default_factory=list, max_length=20)
    plan: str = Field(default="free", max_length=50)


# Cedar's Long is a signed 64-bit integer; a float is kept to what a JSON number holds exactly.
CedarLong = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
BoundedFloat = Annotated[float, Field(ge=-(2.0**53), le=2.0**53, allow_inf_nan=False)]


class SimulatedResource(Contract):
    tool: str = Field(min_length=1, max_length=200)
    arguments: dict[str, str | CedarLong | BoundedFloat | bool] = Field(default_factory=dict)


class SimulatedContext(Contract):
    budget_remaining_pct: int = Field(default=100, ge=0, le=100)
    hour_utc: int | None = Field(default=None, ge=0, le=23, description="the current UTC hour when unset")
    step: str = Field(default="simulate", max_length=100)


class SimulateRequest(Contract):
    """What a decision would be, with no side effect: no rate-limit use, no decision log entry."""

    principal: SimulatedPrincipal
    action: Literal["invoke_tool"] = "invoke_tool"
    resource: SimulatedResource
    context: SimulatedContext = Field(default_factory=SimulatedContext)


class PolicyVerdict(Contract):
    decision: Decision
    reasons: list[str]
    policy_ids: list[str]
    policy_version: str
    evaluation_ms: Milliseconds
    approval_rule_ids: list[str] = Field(default_factory=list)
    approval_timeout_s: Count | None = Field(default=None, description="the shortest timeout of the matching rules")


class SimulateReply(Contract):
    verdict: PolicyVerdict | None = None
    error: str | None = None


class PlanReviewQuery(Contract):
    """May the user review the run's plan (Cedar action `review_plan`), continuing with this many
    sub-questions (0: cancelling)? Answered now, by request/reply, before the review is published."""

    tenant_id: str = Field(min_length=1, description="the user's tenant")
    user_id: str = Field(min_length=1)
    roles: list[str] = Field(default_factory=list, max_length=16)
    run_id: str = Field(min_length=1, max_length=64)
    run_tenant_id: str = Field(min_length=1)
    requester_id: str | None = Field(default=None, description="who requested the run; None: a monitor's run")
    sub_questions: int = Field(ge=0, le=1000)
    max_sub_questions: int = Field(ge=1, le=1000)


class PlanReviewReply(Contract):
    verdict: PolicyVerdict | None = None
    error: str | None = None


class DecisionsQuery(Contract):
    tenant_id: str = Field(min_length=1)
    limit: int = Field(default=50, ge=1, le=500)


class DecisionRecord(Contract):
    event_id: str
    occurred_at: datetime
    run_id: str | None
    task_id: str
    tool: str
    decision: Decision
    reasons: list[str]
    policy_ids: list[str]
    policy_version: str
    evaluation_ms: Milliseconds
    agent: str | None = None
    user_id: str | None = None


class DecisionsReply(Contract):
    decisions: list[DecisionRecord] = Field(default_factory=list)
    error: str | None = None


VersionStatus = Literal["active", "superseded", "rejected"]


class PolicyVersionInfo(Contract):
    version: str
    status: VersionStatus
    reason: str | None = None
    published_by: str | None = Field(default=None, description="user id, or `shipped` for the files in the image")
    comment: str = ""
    published_at: datetime
    activated_at: datetime | None = None
    files: dict[str, str] | None = None


class VersionsQuery(Contract):
    version: str | None = Field(default=None, description="one version, with its files; all versions when unset")


class VersionsReply(Contract):
    active_version: str | None = None
    versions: list[PolicyVersionInfo] = Field(default_factory=list)
    error: str | None = None
