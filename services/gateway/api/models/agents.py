"""What the agent-version routes (`/v1/ops/agents`) take and answer."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from contracts.agents import MAX_NAME_CHARS, MAX_PARAMETERS, AgentConfig, AgentVersion, AgentVersionInfo, Component


class AgentRegistration(BaseModel):
    component: Component = Field(description="the component whose behaviour the configuration sets")
    config: AgentConfig
    note: str = Field(default="", max_length=2000, description="why this version: for the people reading the list")


class AgentRegistered(BaseModel):
    component: Component
    version: AgentVersion = Field(description="sha256 of the canonical component and configuration")
    created: bool = Field(description="false: the same configuration was registered before (nothing changed)")


class AgentVersionList(BaseModel):
    versions: list[AgentVersionInfo] = Field(description="per component, oldest first")


# A metric's value: a finite number. NaN compares false with every target, so it would slip
# through the eval gate unseen.
Metric = Annotated[float, Field(allow_inf_nan=False, ge=-1e9, le=1e9)]


class EvaluationRecord(BaseModel):
    split: Literal["dev", "test"] = Field(default="test", description="the gate reads the test split's")
    metrics: dict[Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)], Metric] = Field(
        max_length=MAX_PARAMETERS, description="`make eval`'s metrics by name, e.g. recall_at_10"
    )


class AgentEvaluation(BaseModel):
    component: Component
    version: AgentVersion
    split: Literal["dev", "test"]
    passed: bool = Field(description="every metric met its target (or the stable version's): a rollout may start")
    failures: list[str] = Field(description="the metrics that missed, with their targets")
    metrics: dict[str, Metric]
