"""Tool authorisation: every tool use is requested, then decided by policy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts import subjects
from contracts.envelope import Contract, Event

Decision = Literal["allow", "deny", "require_approval"]


class ToolRequestedPayload(Contract):
    request_id: str
    tool: str = Field(min_length=1)
    task_id: str
    step: str
    plan: str = "free"
    roles: list[str] = Field(default_factory=list)
    arguments: dict[str, str | int | float | bool] = Field(default_factory=dict)
    delegation: str | None = Field(
        default=None, description="the agent's delegation token (JWT, EdDSA) acting for the user; never logged"
    )


class ToolRequested(Event, subject=subjects.TOOL_REQUESTED, type="tool.requested"):
    payload: ToolRequestedPayload


class ToolDecidedPayload(Contract):
    request_id: str
    task_id: str
    tool: str
    decision: Decision
    reasons: list[str] = Field(default_factory=list)
    policy_ids: list[str] = Field(default_factory=list)
    policy_version: str
    evaluation_ms: float = Field(ge=0)
    approval_rule_ids: list[str] = Field(default_factory=list, description="the soft rules that asked for approval")
    approval_timeout_s: int | None = Field(default=None, ge=1, description="how long that approval may take")
    retry_after_s: float | None = Field(
        default=None,
        gt=0,
        description="set on a deny that lifts by itself (a full rate-limit window): ask again after this long",
    )


class ToolDecided(Event, subject=subjects.TOOL_DECIDED, type="tool.decided"):
    payload: ToolDecidedPayload
