"""Credit ledger events published by billing."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from contracts import subjects
from contracts.envelope import Contract, Event


class QuestionCredits(Contract):
    """Set on the credits of a follow-up question. Its envelope carries no run id (a question's
    saga is not a run: nothing may wait for, or list, a run of that id)."""

    question_id: str | None = Field(default=None, description="the follow-up question the credits are for")
    about_run_id: str | None = Field(default=None, description="the run the follow-up question asks about")


class CreditsGrantedPayload(Contract):
    amount: int = Field(gt=0)
    plan: str
    balance: int
    period_budget: int | None = Field(default=None, description="the billing period's budget after this entry")


class CreditsGranted(Event):
    SUBJECT: ClassVar[str] = subjects.CREDITS_GRANTED
    TYPE: ClassVar[str] = "credits.granted"
    type: Literal["credits.granted"] = "credits.granted"
    payload: CreditsGrantedPayload


class CreditsReservedPayload(QuestionCredits):
    amount: int = Field(ge=0)
    plan: str = "free"
    balance: int = Field(description="available balance after the reservation")
    period_budget: int | None = Field(default=None, description="the billing period's budget after this entry")


class CreditsReserved(Event):
    SUBJECT: ClassVar[str] = subjects.CREDITS_RESERVED
    TYPE: ClassVar[str] = "credits.reserved"
    type: Literal["credits.reserved"] = "credits.reserved"
    payload: CreditsReservedPayload


class CreditsDeniedPayload(QuestionCredits):
    required: int
    balance: int
    reason: str


class CreditsDenied(Event):
    SUBJECT: ClassVar[str] = subjects.CREDITS_DENIED
    TYPE: ClassVar[str] = "credits.denied"
    type: Literal["credits.denied"] = "credits.denied"
    payload: CreditsDeniedPayload


class CreditsSettledPayload(QuestionCredits):
    amount: int = Field(ge=0)
    usage_event_ids: list[str]
    balance: int
    period_budget: int | None = Field(default=None, description="the billing period's budget after this entry")


class CreditsSettled(Event):
    SUBJECT: ClassVar[str] = subjects.CREDITS_SETTLED
    TYPE: ClassVar[str] = "credits.settled"
    type: Literal["credits.settled"] = "credits.settled"
    payload: CreditsSettledPayload


class CreditsRefundedPayload(QuestionCredits):
    amount: int = Field(ge=0)
    reason: str
    balance: int
    period_budget: int | None = Field(default=None, description="the billing period's budget after this entry")


class CreditsRefunded(Event):
    SUBJECT: ClassVar[str] = subjects.CREDITS_REFUNDED
    TYPE: ClassVar[str] = "credits.refunded"
    type: Literal["credits.refunded"] = "credits.refunded"
    payload: CreditsRefundedPayload


class CreditsPurchasedPayload(Contract):
    amount: int = Field(gt=0)
    pack: str = Field(description="the credit pack bought")
    reference: str = Field(default="", description="the payment's reference (Stripe checkout session)")
    balance: int
    period_budget: int | None = None


class CreditsPurchased(Event):
    SUBJECT: ClassVar[str] = subjects.CREDITS_PURCHASED
    TYPE: ClassVar[str] = "credits.purchased"
    type: Literal["credits.purchased"] = "credits.purchased"
    payload: CreditsPurchasedPayload


class CreditsExpiredPayload(Contract):
    amount: int = Field(gt=0)
    period: str = Field(description="the period whose unused plan credits expired")
    balance: int


class CreditsExpired(Event):
    SUBJECT: ClassVar[str] = subjects.CREDITS_EXPIRED
    TYPE: ClassVar[str] = "credits.expired"
    type: Literal["credits.expired"] = "credits.expired"
    payload: CreditsExpiredPayload


class CreditsAdjustedPayload(Contract):
    amount: int = Field(description="signed: credits added (positive) or taken back (negative)")
    reason: str
    balance: int
    period_budget: int | None = None


class CreditsAdjusted(Event):
    SUBJECT: ClassVar[str] = subjects.CREDITS_ADJUSTED
    TYPE: ClassVar[str] = "credits.adjusted"
    type: Literal["credits.adjusted"] = "credits.adjusted"
    payload: CreditsAdjustedPayload


BudgetTier = Literal["allow", "throttle", "block"]


class BudgetTierChangedPayload(Contract):
    tier: BudgetTier = Field(
        description="allow (<75% used), throttle (75-90%: lower concurrency), block (>90%: essential tools only)"
    )
    previous: BudgetTier
    used_pct: int = Field(ge=0, description="share of the period's budget used, held credits included")
    plan: str = ""


class BudgetTierChanged(Event):
    """A warning the UI can show; carries the run whose reservation or settlement crossed the line."""

    SUBJECT: ClassVar[str] = subjects.CREDITS_TIER_CHANGED
    TYPE: ClassVar[str] = "credits.tier_changed"
    type: Literal["credits.tier_changed"] = "credits.tier_changed"
    payload: BudgetTierChangedPayload


class PlanChangedPayload(Contract):
    plan: str
    previous: str


class PlanChanged(Event):
    SUBJECT: ClassVar[str] = subjects.CREDITS_PLAN_CHANGED
    TYPE: ClassVar[str] = "credits.plan_changed"
    type: Literal["credits.plan_changed"] = "credits.plan_changed"
    payload: PlanChangedPayload
