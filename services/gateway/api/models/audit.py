"""What the audit log route answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from contracts.numbers import Count


class AuditActorPublic(BaseModel):
    user_id: str | None
    key_id: str | None = Field(description="the API key the change was made with, if any")


class AuditEntryPublic(BaseModel):
    seq: Count
    at: str
    kind: str
    actor: AuditActorPublic
    source_address: str | None
    target: str | None
    detail: dict[str, Any]


class AuditPagePublic(BaseModel):
    entries: list[AuditEntryPublic]
    next_after: Count = Field(description="pass as `after` for the next page")


class PlatformActorPublic(BaseModel):
    user_id: str | None = Field(description="the operator's user id; null for a person at the command line")
    name: str = Field(description="the operator's email, or `cli:<os user>@<host>`")


class PlatformAuditEntryPublic(BaseModel):
    seq: Count
    at: str
    kind: str = Field(
        description="operator.granted, operator.revoked, ops.read, ops.change, ops.deadletter.redriven,"
        " ops.deadletter.discarded, ops.replay.started, ops.agent.registered, ops.agent.evaluated or"
        " ops.rollout.started, .paused, .resumed, .aborted, .rerandomised"
    )
    actor: PlatformActorPublic
    source_address: str
    target: str | None = Field(description="the user id granted or revoked, or the route used")
    detail: dict[str, Any]


class PlatformAuditPagePublic(BaseModel):
    entries: list[PlatformAuditEntryPublic] = Field(description="newest first")
    next_before: Count | None = Field(description="pass as `before` for the next (older) page; null at the first entry")
