"""Stripe at the edge: Checkout and portal sessions, and webhook signature checks.

Live mode calls Stripe's API (`stripe.StripeClient`, optionally pointed at another base
address) with a deterministic idempotency key on every write, so a retried request creates
nothing twice. Mock mode (QUARRY_BILLING_MODE=mock, development only) calls nothing: a checkout
is applied to the ledger at once, with the same entitlements as a paid one, so outside
development it refuses every checkout even if it was somehow built.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any, Literal

import stripe

from contracts.billing import CheckoutReply, CheckoutRequest
from services.billing.errors import BadSignature, PaymentError
from services.billing.plans import PACKS, PLANS


def session_key(req: CheckoutRequest) -> str:
    """One idempotency key per tenant and client request: a retry gets the same session."""
    digest = hashlib.sha256(f"{req.tenant_id}\0{req.request_id}\0{req.kind}\0{req.item}".encode()).hexdigest()
    return f"quarry-checkout-{digest[:32]}"


class Payments:
    """What billing asks of Stripe; the mock base answers without it."""

    mode: Literal["mock", "live"] = "mock"

    def __init__(
        self, webhook_secret: str | None = None, tolerance_s: int = 300, environment: str = "production"
    ) -> None:
        self.webhook_secret = webhook_secret
        self.tolerance_s = tolerance_s
        self.environment = environment

    async def checkout(self, req: CheckoutRequest, customer_id: str | None) -> CheckoutReply:
        if self.environment != "development":
            raise PaymentError(
                f"mock billing applies checkouts unpaid and is refused with QUARRY_ENVIRONMENT={self.environment}; "
                "run billing live (QUARRY_BILLING_MODE=live with a Stripe key)",
                403,
            )
        return CheckoutReply(session_id="mock_cs_" + session_key(req).rsplit("-", 1)[1], mode="mock", completed=True)

    async def portal(self, customer_id: str, return_url: str, request_id: str) -> str:
        raise PaymentError("the customer portal needs live Stripe (QUARRY_STRIPE_SECRET_KEY)", 409)

    def verify(self, payload: str, signature: str) -> dict[str, Any]:
        """The event, once its signature checks out against the webhook secret."""
        if not self.webhook_secret:
            raise BadSignature("no webhook secret is configured (QUARRY_STRIPE_WEBHOOK_SECRET)")
        try:
            stripe.Webhook.construct_event(payload, signature, self.webhook_secret, tolerance=self.tolerance_s)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise BadSignature(f"invalid Stripe signature: {exc}") from exc
        event: dict[str, Any] = json.loads(payload)
        return event


class LiveStripe(Payments):
    mode: Literal["mock", "live"] = "live"

    def __init__(
        self, secret_key: str, webhook_secret: str | None, api_base: str | None = None, tolerance_s: int = 300
    ) -> None:
        super().__init__(webhook_secret, tolerance_s, environment="")
        self.client = stripe.StripeClient(
            secret_key, base_addresses={"api": api_base} if api_base else None, max_network_retries=2
        )

    async def checkout(self, req: CheckoutRequest, customer_id: str | None) -> CheckoutReply:
        meta = {"tenant_id": req.tenant_id, req_item_key(req): req.item}
        params: dict[str, Any] = {
            "success_url": req.success_url,
            "cancel_url": req.cancel_url,
            "client_reference_id": req.tenant_id,
            "metadata": meta,
        }
        if customer_id:
            params["customer"] = customer_id
        elif req.email:
            params["customer_email"] = req.email
        if req.kind == "subscription":
            plan = PLANS[req.item]
            price = {
                "currency": "usd",
                "unit_amount": plan.price_cents,
                "recurring": {"interval": "month"},
                "product_data": {"name": f"Quarry {plan.name}"},
            }
            params |= {"mode": "subscription", "subscription_data": {"metadata": meta}}
        else:
            pack = PACKS[req.item]
            price = {
                "currency": "usd",
                "unit_amount": pack.price_cents,
                "product_data": {"name": f"Quarry {pack.credits} credits"},
            }
            params |= {"mode": "payment", "payment_intent_data": {"metadata": meta}}
            if not customer_id:
                params["customer_creation"] = "always"
        params["line_items"] = [{"price_data": price, "quantity": 1}]
        session = await self._call(
            self.client.v1.checkout.sessions.create, params, {"idempotency_key": session_key(req)}
        )
        return CheckoutReply(session_id=session.id, url=session.url, mode="live")

    async def portal(self, customer_id: str, return_url: str, request_id: str) -> str:
        key = "quarry-portal-" + hashlib.sha256(f"{customer_id}\0{request_id}".encode()).hexdigest()[:32]
        session = await self._call(
            self.client.v1.billing_portal.sessions.create,
            {"customer": customer_id, "return_url": return_url},
            {"idempotency_key": key},
        )
        return str(session.url)

    async def _call(self, method: Any, params: dict[str, Any], options: dict[str, Any]) -> Any:
        try:
            return await asyncio.to_thread(method, params, options)
        except stripe.APIConnectionError as exc:
            raise PaymentError(f"Stripe could not be reached: {exc.user_message or exc}", 503) from exc
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe refused: {exc.user_message or exc}", 502) from exc


def req_item_key(req: CheckoutRequest) -> str:
    return "plan" if req.kind == "subscription" else "pack"


def build_payments(
    mode: Literal["mock", "live"],
    environment: str,
    secret_key: str | None,
    webhook_secret: str | None,
    api_base: str | None,
    tolerance_s: int,
) -> Payments:
    """Stripe in live mode (which needs its key: never a silent fall-back to mock), the mock otherwise."""
    if mode == "live":
        if not secret_key:
            raise ValueError("live billing needs QUARRY_STRIPE_SECRET_KEY")
        return LiveStripe(secret_key, webhook_secret, api_base, tolerance_s)
    return Payments(webhook_secret, tolerance_s, environment)
