"""Request/reply messages of billing (core NATS, `billing.v1.*`): the gateway asks, one replica answers.

Every reply has `error` and `status` (an HTTP status the gateway answers with when `error` is
set), so a refusal keeps its reason and its kind across the hop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.envelope import Contract
from contracts.numbers import Count, HttpStatus, Signed

EntryKind = Literal["granted", "purchased", "reserved", "settled", "refunded", "expired", "adjusted"]


class LedgerEntry(Contract):
    """One credit movement of a tenant's ledger."""

    seq: Count = Field(description="position in the tenant's ledger; page with ?after=")
    kind: EntryKind
    at: datetime
    amount: Signed = Field(description="credits moved (a reservation holds, a settlement charges what it held)")
    balance: Signed | None = Field(default=None, description="available balance after the entry")
    run_id: str | None = Field(default=None, description="the run; for a follow-up question, the run it asks about")
    question_id: str | None = Field(default=None, description="the follow-up question the credits were for")
    usage_event_ids: list[str] = Field(default_factory=list)
    actor: str = Field(description="who caused it: user:<id>, an agent, or stripe")
    reason: str = ""
    cause: str | None = Field(default=None, description="the bus event or Stripe event it applied")


class PlanInfo(Contract):
    name: str
    monthly_credits: Count
    concurrency: Count
    overage: bool
    tools: list[str]


class Overage(Contract):
    credits: Count = Field(description="credits settled this period beyond its budget")
    tokens: Count
    amount_usd: str = Field(description="by the tiered rates per 1k tokens: 0.012 to 500k, 0.008 to 2M, 0.005 above")


class BillingSummary(Contract):
    tenant_id: str
    plan: PlanInfo
    period: str = Field(description="YYYY-MM (UTC)")
    balance: Signed = Field(description="available credits (held reservations excluded)")
    reserved: Count = Field(description="credits held by runs in flight")
    budget: Signed = Field(description="credits the period started with, plus grants and purchases since")
    used_pct: Signed
    tier: Literal["allow", "throttle", "block"]
    used_by_tool: dict[str, Signed]
    used_by_run: dict[str, Signed]
    overage: Overage
    recent: list[LedgerEntry]
    stripe_mode: Literal["mock", "live"]


class SummaryQuery(Contract):
    tenant_id: str = Field(min_length=1)
    recent: int = Field(default=10, ge=0, le=100)


class SummaryReply(Contract):
    summary: BillingSummary | None = None
    error: str | None = None
    status: HttpStatus = 200


class LedgerQuery(Contract):
    tenant_id: str = Field(min_length=1)
    after: int = Field(default=0, ge=0)
    limit: int = Field(default=50, ge=1, le=500)


class LedgerReply(Contract):
    entries: list[LedgerEntry] = Field(default_factory=list)
    next_after: Count | None = Field(default=None, description="pass as ?after= for the next page; None at the end")
    error: str | None = None
    status: HttpStatus = 200


class CheckoutRequest(Contract):
    tenant_id: str = Field(min_length=1)
    user_id: str | None = None
    email: str | None = None
    kind: Literal["subscription", "pack"]
    item: str = Field(min_length=1, description="a plan (subscription) or a credit pack")
    success_url: str = Field(min_length=1)
    cancel_url: str = Field(min_length=1)
    request_id: str = Field(min_length=1, description="the client's idempotency key (or one per request)")


class CheckoutReply(Contract):
    session_id: str | None = None
    url: str | None = None
    mode: Literal["mock", "live"] = "mock"
    completed: bool = Field(default=False, description="mock mode: applied at once, nothing to pay")
    error: str | None = None
    status: HttpStatus = 200


class PortalRequest(Contract):
    tenant_id: str = Field(min_length=1)
    return_url: str = Field(min_length=1)
    request_id: str = Field(min_length=1)


class PortalReply(Contract):
    url: str | None = None
    error: str | None = None
    status: HttpStatus = 200


class WebhookRequest(Contract):
    """A Stripe webhook exactly as received: billing verifies the signature over the raw body."""

    payload: str
    signature: str


class WebhookReply(Contract):
    event_id: str | None = None
    outcome: str | None = Field(
        default=None, description="applied, duplicate, or ignored (a type billing does not use)"
    )
    error: str | None = None
    status: HttpStatus = 200


class Entitlements(Contract):
    """What a tenant's plan allows, and how much of it is in use: the gateway refuses a request
    that exceeds it before accepting it; billing still decides admission (a race is `rejected`)."""

    tenant_id: str
    plan: str
    max_depth: int = Field(ge=1)
    max_sources: int = Field(ge=1)
    tools: list[str] = Field(description="the tools the plan unlocks")
    web: bool = Field(description="runs may read the open web (the plan has fetch_url)")
    concurrency: int = Field(ge=0, description="runs that may hold credits at once now (halved while throttled)")
    open_runs: int = Field(ge=0, description="runs holding credits now")
    available: int = Field(description="credits a new reservation may take (the balance down to the plan's floor)")
    max_datasets: int = Field(ge=0)
    max_monitors: int = Field(ge=0)
    max_documents: int = Field(ge=0, description="documents a tenant may keep uploaded")
    max_document_bytes: int = Field(ge=0, description="bytes of uploaded documents a tenant may keep")
    estimate: int | None = Field(default=None, description="credits the run asked about would reserve")


class EntitlementsQuery(Contract):
    tenant_id: str = Field(min_length=1)
    # The run about to be requested, for its estimate (unset: no run).
    depth: int | None = Field(default=None, ge=1, le=3)
    max_sources: int | None = Field(default=None, ge=1, le=50)
    attachments: int = Field(default=0, ge=0, le=1000)


class EntitlementsReply(Contract):
    entitlements: Entitlements | None = None
    error: str | None = None
    status: HttpStatus = 200


MAX_RUN_USAGE = 2000  # usage records a run's credits reply names at most (a run has a few hundred)


class RunCreditsQuery(Contract):
    """The credits billing metered for each usage record of one run of one tenant."""

    tenant_id: str = Field(min_length=1, max_length=100)
    run_id: str = Field(min_length=1, max_length=100)


class RunCreditsReply(Contract):
    credits: dict[str, Count] = Field(
        default_factory=dict,
        description="usage event id -> the credits billing metered for it; empty for a run the tenant does not have",
    )
    complete: bool = Field(default=True, description="false when the run had more than MAX_RUN_USAGE records")
    error: str | None = None
    status: HttpStatus = 200
