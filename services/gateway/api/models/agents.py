"""What the agent-version routes (`/v1/ops/agents`) take and answer."""

from __future__ import annotations

from pydantic import BaseModel, Field

from contracts.agents import AgentConfig, AgentVersion, AgentVersionInfo, Component


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
