"""A human's answer to a run waiting for approval (the actor is the approver)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from contracts import subjects
from contracts.envelope import Contract, Event


class ApprovalPayload(Contract):
    approval_id: str | None = Field(default=None, description="the approval asked for; None: the one pending")
    comment: str = Field(default="", max_length=2000)


class ApprovalGiven(Event):
    SUBJECT: ClassVar[str] = subjects.APPROVAL_GIVEN
    TYPE: ClassVar[str] = "approval.given"
    type: Literal["approval.given"] = "approval.given"
    payload: ApprovalPayload


class ApprovalRejected(Event):
    SUBJECT: ClassVar[str] = subjects.APPROVAL_REJECTED
    TYPE: ClassVar[str] = "approval.rejected"
    type: Literal["approval.rejected"] = "approval.rejected"
    payload: ApprovalPayload
