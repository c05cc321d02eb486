"""What the rollout routes (`/v1/ops/rollouts`) take and answer: the contract's own models, so a
spec the orchestrator would refuse is refused here first, with pydantic's reason (422)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from contracts.rollouts import Audience, Guards, RolloutInfo, RolloutSpec, ShadowSpec

# The contract leaves these two open above; what a client sends is bounded at the edge.
MAX_STARVED_AFTER_S = 30 * 24 * 3600
MAX_COST_CEILING = 1e9


# A misspelt field of a spec would otherwise be dropped, and its default silently used instead:
# an operator's typo in `min_runs_per_stage` must be a 422, not a rollout on 50 runs.
FORBID = ConfigDict(extra="forbid")


class AudienceAsked(Audience):
    model_config = FORBID


class ShadowAsked(ShadowSpec):
    model_config = FORBID


class GuardsAsked(Guards):
    model_config = FORBID

    cost_ceiling: float = Field(
        default=100.0,
        gt=0,
        le=MAX_COST_CEILING,
        description="the most one run can cost (credits): the cost guard needs a bounded mean",
    )


class RolloutStart(RolloutSpec):
    """A rollout's spec (component, candidate, stages, minimums, guards, shadow, audience), and why."""

    model_config = FORBID

    starved_after_s: int = Field(
        default=3600, ge=1, le=MAX_STARVED_AFTER_S, description="no run of a version this long: starved"
    )
    guards: GuardsAsked = Field(default_factory=GuardsAsked)
    shadow: ShadowAsked | None = None
    audience: AudienceAsked = Field(default_factory=AudienceAsked)

    note: str = Field(default="", max_length=2000, description="why this rollout: for the people reading the list")


class RolloutCommand(BaseModel):
    note: str = Field(default="", max_length=2000, description="why: recorded with the decision")


class RolloutList(BaseModel):
    rollouts: list[RolloutInfo] = Field(description="newest first")
