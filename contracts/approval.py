"""A human's answer to a run waiting for approval (the actor is the approver)."""

from __future__ import annotations

from pydantic import Field

from contracts import subjects
from contracts.envelope import Contract, Event


class ApprovalPayload(Contract):
    approval_id: str | None = Field(default=None, description="the approval asked for; None: the one pending")
    comment: str = Field(default="", max_length=2000)


class ApprovalGiven(Event, subject=subjects.APPROVAL_GIVEN, type="approval.given"):
    payload: ApprovalPayload


class ApprovalRejected(Event, subject=subjects.APPROVAL_REJECTED, type="approval.rejected"):
    payload: ApprovalPayload
