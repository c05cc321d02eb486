"""Metered usage reported by workers; billing settles runs from it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts import subjects
from contracts.envelope import Contract, Event


class UsageRecordedPayload(Contract):
    task_id: str
    kind: str
    tool: str
    tokens_in: int = Field(default=0, ge=0)
    tokens_out: int = Field(default=0, ge=0)
    search_calls: int = Field(default=0, ge=0)
    seconds: float = Field(default=0.0, ge=0)
    # The model that produced the tokens (as its endpoint named it); None when no model was called.
    model: str | None = None
    # Who pays: a rollout's shadow task runs for the platform's sake, never on the tenant's credits.
    billed_to: Literal["tenant", "platform"] = "tenant"


class UsageRecorded(Event, subject=subjects.USAGE_RECORDED, type="usage.recorded"):
    payload: UsageRecordedPayload
