"""Credit ledger events published by billing."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from contracts import subjects
from contracts.envelope import Contract, Event


class CreditsGrantedPayload(Contract):
    amount: int = Field(gt=0)
    plan: str
    balance: int


class CreditsGranted(Event):
    SUBJECT: ClassVar[str] = subjects.CREDITS_GRANTED
    TYPE: ClassVar[str] = "credits.granted"
    type: Literal["credits.granted"] = "credits.granted"
    payload: CreditsGrantedPayload


class CreditsReservedPayload(Contract):
    amount: int = Field(ge=0)
    plan: str = "free"
    balance: int = Field(description="available balance after the reservation")


class CreditsReserved(Event):
    SUBJECT: ClassVar[str] = subjects.CREDITS_RESERVED
    TYPE: ClassVar[str] = "credits.reserved"
    type: Literal["credits.reserved"] = "credits.reserved"
    payload: CreditsReservedPayload


class CreditsDeniedPayload(Contract):
    required: int
    balance: int
    reason: str


class CreditsDenied(Event):
    SUBJECT: ClassVar[str] = subjects.CREDITS_DENIED
    TYPE: ClassVar[str] = "credits.denied"
    type: Literal["credits.denied"] = "credits.denied"
    payload: CreditsDeniedPayload


class CreditsSettledPayload(Contract):
    amount: int = Field(ge=0)
    usage_event_ids: list[str]
    balance: int


class CreditsSettled(Event):
    SUBJECT: ClassVar[str] = subjects.CREDITS_SETTLED
    TYPE: ClassVar[str] = "credits.settled"
    type: Literal["credits.settled"] = "credits.settled"
    payload: CreditsSettledPayload


class CreditsRefundedPayload(Contract):
    amount: int = Field(ge=0)
    reason: str
    balance: int


class CreditsRefunded(Event):
    SUBJECT: ClassVar[str] = subjects.CREDITS_REFUNDED
    TYPE: ClassVar[str] = "credits.refunded"
    type: Literal["credits.refunded"] = "credits.refunded"
    payload: CreditsRefundedPayload
