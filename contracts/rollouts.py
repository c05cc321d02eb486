"""Rollouts: a candidate agent version exposed to a growing share of tenants, on guard metrics.

A rollout moves the candidate through `stages` (percent of the tenants' buckets it owns), each
after its minimum runs, tenants and dwell time, when no guard shows harm beyond its limit; it
rolls back to 0% as soon as a guard shows harm for certain. Every decision is an event carrying
the numbers that drove it (`Evidence`). Assignment of a tenant: see
services.orchestrator.rollouts.assignment (the salt below is the one it hashes with).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, model_validator

from contracts import subjects
from contracts.agents import AgentVersion, Component
from contracts.envelope import Actor, Contract, Event
from contracts.numbers import Count

Percent = Annotated[int, Field(ge=1, le=100)]
TenantId = Annotated[str, Field(min_length=1, max_length=100)]
# A metric's value at a look: a share, seconds or credits, never near these.
Reading = Annotated[float, Field(ge=-1e15, le=1e15)]
GuardName = Literal["error_rate", "p95_duration", "cost_per_run", "citation_support", "completion_rate"]
HoldReason = Literal["starved", "metrics_error", "sample_ratio_mismatch", "inconclusive"]
Verdict = Literal["harm", "no_harm", "inconclusive"]
Arm = Literal["candidate", "stable"]


class GuardLimit(Contract):
    """The candidate may be `ratio` times the stable version's value (at most for error rate,
    p95 and cost; at least for completion and citation support), give or take `slack` in the
    metric's own unit. The slack is what makes a near-zero stable rate testable at all: 1.1
    times an error rate of 0 leaves no room for a single failure."""

    ratio: float = Field(gt=0, le=100)
    slack: float = Field(default=0.0, ge=0, le=1e9)


class Guards(Contract):
    error_rate: GuardLimit = Field(default_factory=lambda: GuardLimit(ratio=1.1, slack=0.02))
    p95_duration: GuardLimit = Field(default_factory=lambda: GuardLimit(ratio=1.2, slack=1.0), description="slack in s")
    cost_per_run: GuardLimit = Field(default_factory=lambda: GuardLimit(ratio=1.3))
    completion_rate: GuardLimit = Field(default_factory=lambda: GuardLimit(ratio=0.95, slack=0.02))
    citation_support: GuardLimit = Field(default_factory=lambda: GuardLimit(ratio=0.98, slack=0.02))
    alpha: float = Field(
        default=0.05, gt=0, le=0.2, description="chance, over the whole rollout, of a rollback without harm"
    )
    cost_ceiling: float = Field(
        default=100.0,
        gt=0,
        le=1e9,
        description="the most one run can cost (credits): the cost guard needs a bounded mean",
    )


class Audience(Contract):
    """Who takes part: pinned tenants get their arm whatever the stage; excluded ones stay stable."""

    pinned: dict[TenantId, Arm] = Field(default_factory=dict, max_length=10_000, description="tenant id -> arm")
    excluded_tenants: list[TenantId] = Field(default_factory=list, max_length=10_000)
    excluded_tiers: list[Annotated[str, Field(max_length=60)]] = Field(
        default_factory=lambda: ["enterprise"], max_length=50, description="plan tiers kept out"
    )


class ShadowSpec(Contract):
    """Before its first stage, the candidate also runs on a sample of real runs' inputs, unseen."""

    sample_rate: float = Field(gt=0, le=1)
    min_runs: int = Field(default=50, ge=1, le=1_000_000)


class RolloutSpec(Contract):
    component: Component
    candidate: AgentVersion
    stages: list[Percent] = Field(default_factory=lambda: [5, 25, 50, 100], min_length=1, max_length=20)
    min_runs_per_stage: int = Field(default=50, ge=1, le=1_000_000, description="per version")
    min_tenants_per_stage: int = Field(default=3, ge=1, le=1_000_000, description="per version")
    min_dwell_s: int = Field(default=600, ge=0, le=30 * 24 * 3600)
    starved_after_s: int = Field(
        default=3600, ge=1, le=30 * 24 * 3600, description="no run of a version this long: starved"
    )
    look_every_s: int = Field(default=60, ge=1, le=3600, description="how often a durable timer looks at the guards")
    guards: Guards = Field(default_factory=Guards)
    shadow: ShadowSpec | None = None
    audience: Audience = Field(default_factory=Audience)

    @model_validator(mode="after")
    def _stages_rise_to_all(self) -> RolloutSpec:
        if any(b <= a for a, b in zip(self.stages, self.stages[1:], strict=False)) or self.stages[-1] != 100:
            raise ValueError("stages must rise strictly and end at 100")
        return self


# -- the numbers behind a decision ------------------------------------------------------------


class Interval(Contract):
    """An always-valid confidence interval of one version's metric at the look."""

    estimate: Reading | None = Field(default=None, description="None: no observation yet")
    lower: Reading | None = Field(default=None, description="None: not bounded below yet")
    upper: Reading | None = Field(default=None, description="None: not bounded above yet")


class GuardReading(Contract):
    guard: GuardName
    stable: Interval
    candidate: Interval
    verdict: Verdict
    observations: dict[Arm, Count] = Field(default_factory=dict, description="what each interval was built from")


class ArmCounts(Contract):
    runs: Count = Field(description="finished runs since the rollout started")
    tenants: Count
    runs_in_stage: Count
    tenants_in_stage: Count
    last_run_at: datetime | None = None


class SampleRatio(Contract):
    """Bucket-assigned tenants seen in the stage, against the split they should show."""

    expected_fraction: float = Field(ge=0, le=1)
    candidate_tenants: Count
    stable_tenants: Count
    allowed_deviation: float = Field(
        ge=0, le=1e12, description="how far the candidate count may be from its expectation"
    )
    mismatch: bool


class Evidence(Contract):
    percent: int = Field(ge=0, le=100, description="the stage looked at; 0: the shadow phase")
    candidate: ArmCounts
    stable: ArmCounts
    guards: list[GuardReading] = Field(default_factory=list)
    sample_ratio: SampleRatio | None = None


# -- events ----------------------------------------------------------------------------------


class RolloutStartedPayload(Contract):
    rollout_id: str
    spec: RolloutSpec
    stable: AgentVersion = Field(description="the version the candidate is compared with")
    salt: str = Field(min_length=1, description="hashed with each tenant id into its bucket")
    percent: int = Field(ge=0, le=100, description="the first stage; 0 while shadowing")


class RolloutStarted(Event, subject=subjects.ROLLOUT_STARTED, type="rollout.started"):
    payload: RolloutStartedPayload


class StageAdvancedPayload(Contract):
    rollout_id: str
    from_percent: int = Field(ge=0, le=100)
    to_percent: Percent
    completed: bool = Field(description="the candidate reached 100% and is the stable version now")
    evidence: Evidence


class StageAdvanced(Event, subject=subjects.ROLLOUT_STAGE_ADVANCED, type="rollout.stage_advanced"):
    """Promoted: no guard showed harm beyond its limit, on enough runs and tenants of each version."""

    payload: StageAdvancedPayload


class RolledBackPayload(Contract):
    rollout_id: str
    from_percent: int = Field(ge=0, le=100)
    guards: list[GuardName] = Field(description="the guards that showed harm")
    evidence: Evidence


class RolledBack(Event, subject=subjects.ROLLOUT_ROLLED_BACK, type="rollout.rolled_back"):
    """Harm is certain: every tenant is back on the stable version, for good."""

    payload: RolledBackPayload


class RolloutNotePayload(Contract):
    rollout_id: str
    percent: int = Field(ge=0, le=100)
    note: str = Field(default="", max_length=2000)


class Paused(Event, subject=subjects.ROLLOUT_PAUSED, type="rollout.paused"):
    """An operator froze the split: no decision until resumed (harm still rolls back)."""

    payload: RolloutNotePayload


class Resumed(Event, subject=subjects.ROLLOUT_RESUMED, type="rollout.resumed"):
    payload: RolloutNotePayload


class Aborted(Event, subject=subjects.ROLLOUT_ABORTED, type="rollout.aborted"):
    """An operator ended the rollout: every tenant goes back to the stable version."""

    payload: RolloutNotePayload


class HeldPayload(Contract):
    rollout_id: str
    reason: HoldReason
    detail: str = Field(default="", max_length=2000, description="e.g. the error reading the metrics")
    evidence: Evidence | None = Field(default=None, description="None when the metrics could not be read")


class Held(Event, subject=subjects.ROLLOUT_HELD, type="rollout.held"):
    """A look that neither promoted nor rolled back, and why: the stage stays as it is."""

    payload: HeldPayload


class TenantsRerandomisedPayload(Contract):
    rollout_id: str
    previous_salt: str
    salt: str = Field(min_length=1)
    note: str = Field(default="", max_length=2000)


class TenantsRerandomised(Event, subject=subjects.ROLLOUT_TENANTS_RERANDOMISED, type="rollout.tenants_rerandomised"):
    """A new salt: every tenant's bucket is drawn again (the only way assignment ever changes
    other than by the stage)."""

    payload: TenantsRerandomisedPayload


# -- requests to the orchestrator, which keeps the rollouts (core-NATS request/reply) ---------

RolloutStatus = Literal["shadowing", "running", "paused", "completed", "rolled_back", "aborted"]
RolloutAction = Literal["pause", "resume", "abort", "rerandomise"]


class StartRolloutRequest(Contract):
    """Start `spec` against the component's stable version; refused (422) unless the candidate is
    registered, passed the eval gate, and no other rollout of the component is under way."""

    spec: RolloutSpec
    note: str = Field(default="", max_length=2000)
    tenant_id: str = Field(description="the operator's tenant (the events' envelopes name it)")
    actor: Actor = Field(default_factory=Actor)


class RolloutCommandRequest(Contract):
    rollout_id: str = Field(min_length=1, max_length=100)
    action: RolloutAction
    note: str = Field(default="", max_length=2000)
    tenant_id: str
    actor: Actor = Field(default_factory=Actor)


class RolloutsQuery(Contract):
    rollout_id: str | None = Field(default=None, max_length=100, description="one rollout; None: every one")
    component: Component | None = None


class RolloutDecision(Contract):
    """One recorded change of a rollout: a decision of a look, or an operator's command."""

    kind: Literal["started", "promoted", "rolled_back", "held", "paused", "resumed", "aborted", "rerandomised"]
    at: datetime
    percent: int | None = Field(default=None, ge=0, le=100)
    reason: HoldReason | None = None
    guards: list[GuardName] = Field(default_factory=list, description="the guards that showed harm")
    note: str = ""
    evidence: Evidence | None = None


class ShadowSummary(Contract):
    """What the shadow phase has seen: the candidate beside the real tasks it copied."""

    observations: Count = Field(description="shadow tasks whose real twin has settled too")
    candidate_failures: Count
    stable_failures: Count
    mean_similarity: float | None = Field(
        default=None, ge=0, le=1, description="how alike the two outputs were, on average (None: none compared)"
    )
    candidate_citation_support: float | None = Field(default=None, ge=0, le=1)
    stable_citation_support: float | None = Field(default=None, ge=0, le=1)


class RolloutInfo(Contract):
    rollout_id: str
    component: Component
    candidate: AgentVersion
    stable: AgentVersion
    status: RolloutStatus
    percent: int = Field(ge=0, le=100)
    spec: RolloutSpec
    salt: str
    started_at: datetime
    stage_started_at: datetime
    decisions: list[RolloutDecision] = Field(default_factory=list, description="oldest first")
    last_look: Evidence | None = Field(
        default=None, description="the guards as the latest look saw them, decision or not"
    )
    last_look_at: datetime | None = None
    shadow: ShadowSummary | None = Field(default=None, description="None: the rollout did not shadow")


class RolloutReply(Contract):
    rollout: RolloutInfo | None = None
    error: str | None = None
    status: int | None = None


class RolloutsReply(Contract):
    """Rollouts, newest first."""

    rollouts: list[RolloutInfo] = Field(default_factory=list)
    error: str | None = None
    status: int | None = None
