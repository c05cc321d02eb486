"""Core-NATS request/reply of billing: summary, ledger pages, a run's metered credits, checkout,
portal, Stripe webhooks.

The gateway is the only public ingress and never reads billing's tables: it asks here. Requests
go to a queue group, so with several replicas exactly one answers each. Reads come from the
ledger itself (the source of truth, read-your-writes after a checkout) rather than from a copy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from contracts import subjects
from contracts.billing import (
    CheckoutReply,
    CheckoutRequest,
    EntitlementsQuery,
    EntitlementsReply,
    LedgerQuery,
    LedgerReply,
    PortalReply,
    PortalRequest,
    RunCreditsQuery,
    RunCreditsReply,
    SummaryQuery,
    SummaryReply,
    WebhookReply,
    WebhookRequest,
)
from quarry_runtime.bus import Bus
from quarry_runtime.replies import Respond, parsed, serving, short
from services.billing.application import Billing
from services.billing.errors import BadSignature, BillingError
from services.billing.payments import Payments
from services.billing.plans import PACKS, PLANS
from services.billing.queries import entitlements, ledger_page, run_credits, summary
from services.billing.webhooks import apply_stripe_event

log = logging.getLogger(__name__)
QUEUE: Final = "billing"


def responders(app: Billing, payments: Payments) -> dict[str, Respond]:
    """Reply builders by request subject; each takes the raw request and returns the reply model."""

    async def on_summary(query: SummaryQuery) -> BaseModel:
        await app.settled(query.tenant_id)
        return SummaryReply(summary=summary(app, query.tenant_id, query.recent, payments.mode))

    async def on_entitlements(query: EntitlementsQuery) -> BaseModel:
        await app.settled(query.tenant_id)
        return EntitlementsReply(entitlements=entitlements(app, query))

    async def on_ledger(query: LedgerQuery) -> BaseModel:
        await app.settled(query.tenant_id)
        return ledger_page(app, query.tenant_id, query.after, query.limit)

    async def on_run_credits(query: RunCreditsQuery) -> BaseModel:
        await app.settled(query.tenant_id)
        return run_credits(app, query.tenant_id, query.run_id)

    async def on_checkout(req: CheckoutRequest) -> BaseModel:
        catalogue = PLANS if req.kind == "subscription" else PACKS
        if req.item not in catalogue or (req.kind == "subscription" and PLANS[req.item].price_cents <= 0):
            known = ", ".join(k for k in catalogue if req.kind == "pack" or PLANS[k].price_cents > 0)
            return CheckoutReply(error=f"no {req.kind} named {req.item!r}; choose one of {known}", status=422)
        await app.settled(req.tenant_id)
        ledger = app.ledger(req.tenant_id, copy=True)
        try:
            reply = await payments.checkout(req, ledger.customer_id)
        except BillingError as exc:
            return CheckoutReply(error=str(exc), status=exc.status, mode=payments.mode)
        if reply.completed:  # mock mode: what a paid session would do, once per session
            cause = f"mock:{reply.session_id}"
            actor = f"user:{req.user_id}" if req.user_id else "mock-checkout"
            try:
                if req.kind == "pack":
                    reference = reply.session_id or ""
                    await app.run_command(
                        lambda: app.purchase(req.tenant_id, req.item, reference=reference, cause=cause, actor=actor)
                    )
                else:
                    await app.run_command(lambda: app.subscribe(req.tenant_id, req.item, cause=cause))
            except Exception:
                app.forget(req.tenant_id)
                raise
        return reply

    async def on_portal(req: PortalRequest) -> BaseModel:
        await app.settled(req.tenant_id)
        customer = app.ledger(req.tenant_id, copy=True).customer_id
        if not customer:
            return PortalReply(
                error="this tenant has no Stripe customer yet: check out a plan or a pack first", status=409
            )
        try:
            return PortalReply(url=await payments.portal(customer, req.return_url, req.request_id))
        except BillingError as exc:
            return PortalReply(error=str(exc), status=exc.status)

    async def on_webhook(data: bytes) -> BaseModel:
        try:
            req = WebhookRequest.model_validate_json(data)
            event = payments.verify(req.payload, req.signature)
        except ValidationError as exc:
            return WebhookReply(error=short(exc), status=400)
        except BadSignature as exc:
            return WebhookReply(error=short(exc), status=exc.status)
        try:
            outcome = await app.run_command(lambda: apply_stripe_event(app, event))
        except BillingError as exc:
            _forget_all(app)
            return WebhookReply(event_id=event.get("id"), error=str(exc), status=exc.status)
        except Exception:
            _forget_all(app)
            raise
        log.info("stripe event %s (%s): %s", event.get("id"), event.get("type"), outcome)
        return WebhookReply(event_id=event.get("id"), outcome=outcome)

    return {
        subjects.BILLING_SUMMARY: parsed(SummaryQuery, SummaryReply, "summary query", on_summary, status=400),
        subjects.BILLING_LEDGER: parsed(LedgerQuery, LedgerReply, "ledger query", on_ledger, status=400),
        subjects.BILLING_ENTITLEMENTS: parsed(
            EntitlementsQuery, EntitlementsReply, "entitlements query", on_entitlements, status=400
        ),
        subjects.BILLING_RUN_CREDITS: parsed(
            RunCreditsQuery, RunCreditsReply, "run credits query", on_run_credits, status=400
        ),
        subjects.BILLING_CHECKOUT: parsed(CheckoutRequest, CheckoutReply, "checkout request", on_checkout, status=400),
        subjects.BILLING_PORTAL: parsed(PortalRequest, PortalReply, "portal request", on_portal, status=400),
        subjects.BILLING_WEBHOOK: on_webhook,
    }


def serve(bus: Bus, app: Billing, payments: Payments) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background job for `Service`: answer requests until cancelled."""
    return serving(bus, responders(app, payments), queue=QUEUE, who="billing")


def _forget_all(app: Billing) -> None:
    """After a Stripe event failed half-way: its tenant is in the event's metadata, which may be
    what failed to parse, so every cached ledger goes (a rare path; the store is the truth)."""
    cache: Any = app.repository.cache  # an LRUCache, which can be cleared
    if cache is not None:
        cache.clear()
