"""Billing: the tenant's credits (summary, ledger pages), checkout, the customer portal, Stripe webhooks.

Billing owns the ledger; the gateway asks it over core-NATS request/reply (`billing.v1.*`) and
never reads its tables. The summary and the ledger are read from the ledger itself rather than
from a gateway read model: the numbers (tier, overage, usage by tool) are billing's rules, a
copy would have to re-implement them, and a tenant who just paid sees the new balance at once.
The price is that these pages answer 503 while billing is down; runs do not depend on them.

The webhook is public (Stripe cannot log in): the raw body and its `Stripe-Signature` go to
billing, which verifies them with its secret; a bad signature is a 400 and changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, Field

from contracts import subjects
from contracts.billing import (
    BillingSummary,
    CheckoutReply,
    CheckoutRequest,
    LedgerQuery,
    LedgerReply,
    PortalReply,
    PortalRequest,
    SummaryQuery,
    SummaryReply,
    WebhookReply,
    WebhookRequest,
)
from services.gateway.api.bounds import MAX_SEQUENCE
from services.gateway.api.deps import AuditDep, BillingBuyer, BillingReader, ComponentsDep
from services.gateway.api.requests import Peer
from services.gateway.errors import GatewayError, Unavailable, available

router = APIRouter(prefix="/v1/billing", tags=["billing"])
BILLING: Final = Peer("billing", timeout_s=5.0)  # a checkout waits on Stripe


class Refused(GatewayError):
    """Billing's answer with its own status (400, 409, 422, 502...)."""

    def __init__(self, detail: str, status_code: int) -> None:
        super().__init__(detail)
        self.status_code = status_code


class CheckoutBody(BaseModel):
    kind: Literal["subscription", "pack"]
    item: str = Field(min_length=1, max_length=50, description="a plan (pro, enterprise) or a pack (pack_1k, pack_10k)")
    success_url: str | None = Field(default=None, max_length=2000)
    cancel_url: str | None = Field(default=None, max_length=2000)


class PortalBody(BaseModel):
    return_url: str | None = Field(default=None, max_length=2000)


class PortalLink(BaseModel):
    url: str


@router.get("/summary")
async def billing_summary(
    who: BillingReader, parts: ComponentsDep, recent: Annotated[int, Query(ge=0, le=100)] = 10
) -> BillingSummary:
    """Plan, period, balance, reserved, used this period by tool and by run, overage, recent entries, budget tier."""
    query = SummaryQuery(tenant_id=who.tenant_id, recent=recent)
    reply = await BILLING.ask(parts, subjects.BILLING_SUMMARY, query, SummaryReply)
    _raise_for(reply.error, reply.status)
    return available(reply.summary, "billing answered without a summary")


@router.get("/ledger")
async def billing_ledger(
    who: BillingReader,
    parts: ComponentsDep,
    after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> LedgerReply:
    """The tenant's ledger entries after position `after`, oldest first; follow `next_after`."""
    query = LedgerQuery(tenant_id=who.tenant_id, after=after, limit=limit)
    reply = await BILLING.ask(parts, subjects.BILLING_LEDGER, query, LedgerReply)
    _raise_for(reply.error, reply.status)
    return reply


@router.post("/checkout", status_code=201)
async def checkout(
    body: CheckoutBody,
    who: BillingBuyer,
    parts: ComponentsDep,
    request: Request,
    audit: AuditDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> CheckoutReply:
    """A Stripe Checkout session for a plan or a credit pack (live); applied at once in mock mode.
    Send `Idempotency-Key` to make a retry return the same session."""
    base = str(request.base_url).rstrip("/")
    req = CheckoutRequest(
        tenant_id=who.tenant_id,
        user_id=who.user_id,
        kind=body.kind,
        item=body.item,
        # Back to the web app's billing page, which shows the outcome (the browser's session is a cookie).
        success_url=body.success_url or f"{base}/billing?checkout=success",
        cancel_url=body.cancel_url or f"{base}/billing?checkout=cancelled",
        request_id=idempotency_key or uuid.uuid4().hex,
    )
    reply = await BILLING.ask(parts, subjects.BILLING_CHECKOUT, req, CheckoutReply)
    _raise_for(reply.error, reply.status)
    await audit("billing.checkout", body.item, kind=body.kind, request_id=req.request_id)
    return reply


@router.post("/portal")
async def portal(
    body: PortalBody,
    who: BillingBuyer,
    parts: ComponentsDep,
    request: Request,
    audit: AuditDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> PortalLink:
    """A link to Stripe's customer portal (invoices, payment method, cancel the subscription)."""
    return_url = body.return_url or f"{str(request.base_url).rstrip('/')}/billing"
    req = PortalRequest(tenant_id=who.tenant_id, return_url=return_url, request_id=idempotency_key or uuid.uuid4().hex)
    reply = await BILLING.ask(parts, subjects.BILLING_PORTAL, req, PortalReply)
    _raise_for(reply.error, reply.status)
    if not reply.url:
        raise Unavailable("billing answered without a portal link")
    await audit("billing.portal")
    return PortalLink(url=reply.url)


@router.post("/webhook")
async def stripe_webhook(
    request: Request,
    parts: ComponentsDep,
    stripe_signature: Annotated[str | None, Header()] = None,
) -> WebhookReply:
    """Stripe's events (signed); 200 once applied or known, 400 for a bad signature, 5xx to be retried."""
    raw = await request.body()  # at most QUARRY_MAX_WEBHOOK_BODY_BYTES (api.limits)
    if not stripe_signature:
        raise Refused("missing Stripe-Signature header", 400)
    try:
        payload = raw.decode()
    except UnicodeDecodeError as exc:
        raise Refused("the body is not UTF-8 JSON", 400) from exc
    reply = await BILLING.ask(
        parts, subjects.BILLING_WEBHOOK, WebhookRequest(payload=payload, signature=stripe_signature), WebhookReply
    )
    _raise_for(reply.error, reply.status)
    return reply


def _raise_for(error: str | None, status: int) -> None:
    if error:
        raise Refused(error, status if 400 <= status < 600 else 502)
