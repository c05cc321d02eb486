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
