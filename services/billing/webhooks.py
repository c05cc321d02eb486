"""Stripe events -> billing's use cases, each applied once by Stripe event id.

The tenant is named by metadata billing set when it created the checkout session
(`metadata.tenant_id` on the session, its subscription and its payment), so an event about
anything else is ignored, not failed: Stripe would retry a failure for days. The event id is
the cause of the ledger entry, stored in the same event as the entry itself, so a redelivery
(even days later) changes nothing. Subscription changes carry Stripe's event time, so one
overtaken by a later change is stale.
"""

from __future__ import annotations

from typing import Any, Final

from services.billing.application import Billing
from services.billing.plans import PACKS, PLANS

HANDLED: Final = frozenset(
    {
        "checkout.session.completed",
        "invoice.paid",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "charge.refunded",
    }
)
LIVE_STATUSES: Final = frozenset({"active", "trialing", "past_due"})


def apply_stripe_event(app: Billing, event: dict[str, Any]) -> str:
    """Apply a verified Stripe event; returns applied, unchanged (seen before, or nothing to
    change) or ignored (with why)."""
    kind = str(event.get("type", ""))
    event_id = str(event.get("id", ""))
    obj: dict[str, Any] = (event.get("data") or {}).get("object") or {}
    created = int(event.get("created") or 0)
    if kind not in HANDLED:
        return f"ignored: billing does not use {kind or 'untyped'} events"
    meta = _metadata(obj)
    tenant_id = meta.get("tenant_id") or obj.get("client_reference_id")
    if not tenant_id:
        return "ignored: no tenant_id in the object's metadata"
    done: bool
    if kind == "checkout.session.completed":
        if obj.get("payment_status") not in ("paid", "no_payment_required"):
            return f"ignored: checkout session not paid ({obj.get('payment_status')})"
        if obj.get("mode") == "payment":
            pack = meta.get("pack", "")
            if pack not in PACKS:
                return f"ignored: unknown credit pack {pack!r}"
            reference = str(obj.get("id", ""))
            done = app.purchase(tenant_id, pack, reference, cause=event_id, customer_id=_id(obj.get("customer")))
        else:
            plan = meta.get("plan", "")
            if plan not in PLANS:
                return f"ignored: unknown plan {plan!r}"
            done = app.subscribe(
                tenant_id,
                plan,
                cause=event_id,
                customer_id=_id(obj.get("customer")),
                subscription_id=_id(obj.get("subscription")),
                as_of=created,
            )
    elif kind in ("invoice.paid", "customer.subscription.updated"):
        plan = meta.get("plan", "")
        status = obj.get("status")
        if kind == "customer.subscription.updated" and status not in LIVE_STATUSES:
            plan = "free"
        if plan not in PLANS:
            return f"ignored: unknown plan {plan!r}"
        customer = _id(obj.get("customer"))
        subscription = _id(obj.get("subscription")) if kind == "invoice.paid" else _id(obj.get("id"))
        done = app.subscribe(
            tenant_id, plan, cause=event_id, customer_id=customer, subscription_id=subscription, as_of=created
        )
    elif kind == "customer.subscription.deleted":
        current = app.ledger(tenant_id, copy=True).subscription_id
        if current and current != obj.get("id"):
            return "ignored: not the tenant's current subscription"
        done = app.subscribe(tenant_id, "free", cause=event_id, as_of=created)
    else:  # charge.refunded
        bought = PACKS.get(meta.get("pack", ""))
        amount = int(obj.get("amount") or 0)
        if bought is None or amount <= 0:
            return "ignored: not a credit pack payment"
        credits = bought.credits * min(int(obj.get("amount_refunded") or 0), amount) // amount
        done = app.take_back(tenant_id, str(obj.get("id", "")), credits, cause=event_id)
    return "applied" if done else "unchanged"


def _metadata(obj: dict[str, Any]) -> dict[str, str]:
    """The object's metadata; an invoice keeps its subscription's under `subscription_details`."""
    meta = dict(obj.get("metadata") or {})
    details = obj.get("subscription_details") or {}
    for key, value in (details.get("metadata") or {}).items():
        meta.setdefault(key, value)
    return {str(k): str(v) for k, v in meta.items()}


def _id(value: Any) -> str | None:
    """A Stripe reference: an id, or an expanded object with an id."""
    if isinstance(value, dict):
        return str(value.get("id")) if value.get("id") else None
    return str(value) if value else None
