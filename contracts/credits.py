"""Credit ledger events published by billing."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from contracts import subjects
from contracts.envelope import Contract, Event

PeriodBudget = Annotated[int | None, Field(description="the billing period's budget after this entry")]


class QuestionCredits(Contract):
    """Set on the credits of a follow-up question. Its envelope carries no run id (a question's
    saga is not a run: nothing may wait for, or list, a run of that id)."""

    question_id: str | None = Field(default=None, description="the follow-up question the credits are for")
    about_run_id: str | None = Field(default=None, description="the run the follow-up question asks about")


class CreditsGrantedPayload(Contract):
    amount: int = Field(gt=0)
    plan: str
    balance: int
    period_budget: PeriodBudget = None


class CreditsGranted(Event, subject=subjects.CREDITS_GRANTED, type="credits.granted"):
    payload: CreditsGrantedPayload


class CreditsReservedPayload(QuestionCredits):
    amount: int = Field(ge=0)
    plan: str = "free"
    balance: int = Field(description="available balance after the reservation")
    period_budget: PeriodBudget = None


class CreditsReserved(Event, subject=subjects.CREDITS_RESERVED, type="credits.reserved"):
    payload: CreditsReservedPayload


class CreditsDeniedPayload(QuestionCredits):
    required: int
    balance: int
    reason: str


class CreditsDenied(Event, subject=subjects.CREDITS_DENIED, type="credits.denied"):
    payload: CreditsDeniedPayload


class CreditsSettledPayload(QuestionCredits):
    amount: int = Field(ge=0)
    usage_event_ids: list[str]
    balance: int
    period_budget: PeriodBudget = None


class CreditsSettled(Event, subject=subjects.CREDITS_SETTLED, type="credits.settled"):
    payload: CreditsSettledPayload


class CreditsRefundedPayload(QuestionCredits):
    amount: int = Field(ge=0)
    reason: str
    balance: int
    period_budget: PeriodBudget = None


class CreditsRefunded(Event, subject=subjects.CREDITS_REFUNDED, type="credits.refunded"):
    payload: CreditsRefundedPayload


class CreditsPurchasedPayload(Contract):
    amount: int = Field(gt=0)
    pack: str = Field(description="the credit pack bought")
    reference: str = Field(default="", description="the payment's reference (Stripe checkout session)")
    balance: int
    period_budget: int | None = None


class CreditsPurchased(Event, subject=subjects.CREDITS_PURCHASED, type="credits.purchased"):
    payload: CreditsPurchasedPayload


class CreditsExpiredPayload(Contract):
    amount: int = Field(gt=0)
    period: str = Field(description="the period whose unused plan credits expired")
    balance: int


class CreditsExpired(Event, subject=subjects.CREDITS_EXPIRED, type="credits.expired"):
    payload: CreditsExpiredPayload


class CreditsAdjustedPayload(Contract):
    amount: int = Field(description="signed: credits added (positive) or taken back (negative)")
    reason: str
    balance: int
    period_budget: int | None = None


class CreditsAdjusted(Event, subject=subjects.CREDITS_ADJUSTED, type="credits.adjusted"):
    payload: CreditsAdjustedPayload


BudgetTier = Literal["allow", "throttle", "block"]


class BudgetTierChangedPayload(Contract):
    tier: BudgetTier = Field(
        description="allow (<75% used), throttle (75-90%: lower concurrency), block (>90%: essential tools only)"
    )
    previous: BudgetTier
    used_pct: int = Field(ge=0, description="share of the period's budget used, held credits included")
    plan: str = ""


class BudgetTierChanged(Event, subject=subjects.CREDITS_TIER_CHANGED, type="credits.tier_changed"):
    """A warning the UI can show; carries the run whose reservation or settlement crossed the line."""

    payload: BudgetTierChangedPayload


class PlanChangedPayload(Contract):
    plan: str
    previous: str


class PlanChanged(Event, subject=subjects.CREDITS_PLAN_CHANGED, type="credits.plan_changed"):
    payload: PlanChangedPayload
