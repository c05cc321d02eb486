"""Billing on a real JetStream, driven through the gateway's API: checkout and the portal against
a local server speaking Stripe's API (live mode) or none at all (mock mode), and signed webhooks
applied once by Stripe event id."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from services.billing.bootstrap import BillingSettings
from services.billing.plans import PACKS, PLANS
from tests.fakes.stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe, event, sign
from tests.support.billing import signup
from tests.support.services import billing_service

pytestmark = pytest.mark.infra

FREE = PLANS["free"].monthly_credits
PACK = PACKS["pack_1k"].credits


async def webhook(http: httpx.AsyncClient, body: str, signature: str) -> httpx.Response:
    return await http.post(
        "/v1/billing/webhook", content=body, headers={"Stripe-Signature": signature, "Content-Type": "application/json"}
    )


async def test_live_checkout_portal_and_webhooks_apply_once(
    nats_url: str, tmp_path: Path, gateway: httpx.AsyncClient, stripe_api: tuple[FakeStripe, str]
) -> None:
    fake, url = stripe_api
    settings = BillingSettings(
        data_dir=tmp_path / "billing",
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=url,
    ).model_copy(update={"nats_url": nats_url})
    async with billing_service(settings):
        owner = await signup(gateway)
        r = await owner.get("/v1/billing/summary")
        assert r.status_code == 200, r.text
        summary = r.json()
        assert (summary["plan"]["name"], summary["balance"], summary["tier"], summary["stripe_mode"]) == (
            "free",
            FREE,
            "allow",
            "live",
        )

        # Checkout: a Stripe session, created once however often the client retries.
        before = len(fake.created("/v1/checkout/sessions"))
        first = await owner.post("/v1/billing/checkout", {"kind": "pack", "item": "pack_1k"}, key="buy-1")
        again = await owner.post("/v1/billing/checkout", {"kind": "pack", "item": "pack_1k"}, key="buy-1")
        assert first.status_code == 201, first.text
        session = first.json()
        assert session["mode"] == "live" and session["url"].endswith(session["session_id"])
        assert again.json()["session_id"] == session["session_id"]
        made = fake.created("/v1/checkout/sessions")[before:]
        assert len(made) == 1
        assert made[0]["metadata"] == {"tenant_id": owner.tenant_id, "pack": "pack_1k"}
        assert made[0]["line_items"]["0"]["price_data"]["unit_amount"] == str(PACKS["pack_1k"].price_cents)
        bad = await owner.post("/v1/billing/checkout", {"kind": "pack", "item": "pack_1m"})
        assert bad.status_code == 422 and "pack_1k" in bad.json()["detail"]
        assert await owner.balance() == FREE  # nothing is credited before Stripe says it is paid

        # The customer portal needs a Stripe customer: one appears with the first payment.
        assert (await owner.post("/v1/billing/portal", {})).status_code == 409

        paid = event(
            f"evt_{uuid.uuid4().hex[:12]}",
            "checkout.session.completed",
            {
                "id": session["session_id"],
                "object": "checkout.session",
                "mode": "payment",
                "payment_status": "paid",
                "customer": "cus_quarry1",
                "metadata": {"tenant_id": owner.tenant_id, "pack": "pack_1k"},
            },
        )
        # A bad signature, a wrong secret or a stale timestamp is a 400 and changes nothing.
        for signature in (
            "t=1,v1=deadbeef",
            sign(paid, secret="whsec_someone_else"),
            sign(paid, at=int(time.time()) - 3600),
            sign(paid + " "),
        ):
            r = await webhook(gateway, paid, signature)
            assert r.status_code == 400, (signature, r.text)
        assert await owner.balance() == FREE

        r = await webhook(gateway, paid, sign(paid))
        assert r.status_code == 200 and r.json()["outcome"] == "applied", r.text
        for _ in range(2):  # redelivered by Stripe
            r = await webhook(gateway, paid, sign(paid))
            assert r.status_code == 200 and r.json()["outcome"] == "unchanged", r.text
        assert await owner.balance() == FREE + PACK

        portal = await owner.post("/v1/billing/portal", {"return_url": "https://app.example/billing"}, key="p-1")
        assert portal.status_code == 200, portal.text
        assert portal.json()["url"].startswith("https://billing.stripe.com/p/session/")
        assert fake.created("/v1/billing_portal/sessions")[-1] == {
            "customer": "cus_quarry1",
            "return_url": "https://app.example/billing",
        }

        # A subscription: checkout, then Stripe's events move the plan (and the entitlements).
        r = await owner.post("/v1/billing/checkout", {"kind": "subscription", "item": "pro"}, key="sub-1")
        assert r.status_code == 201, r.text
        sub_session = fake.created("/v1/checkout/sessions")[-1]
        assert sub_session["mode"] == "subscription" and sub_session["customer"] == "cus_quarry1"
        assert sub_session["subscription_data"]["metadata"] == {"tenant_id": owner.tenant_id, "plan": "pro"}
        meta = {"tenant_id": owner.tenant_id, "plan": "pro"}
        done = event(
            "evt_sub_done",
            "checkout.session.completed",
            {
                "id": r.json()["session_id"],
                "mode": "subscription",
                "payment_status": "paid",
                "customer": "cus_quarry1",
                "subscription": "sub_1",
                "metadata": meta,
            },
        )
        assert (await webhook(gateway, done, sign(done))).json()["outcome"] == "applied"
        summary = (await owner.get("/v1/billing/summary")).json()
        assert summary["plan"]["name"] == "pro" and "fetch_url" in summary["plan"]["tools"]
        assert summary["balance"] == PLANS["pro"].monthly_credits + PACK
        invoice = event(
            "evt_inv",
            "invoice.paid",
            {
                "id": "in_1",
                "customer": "cus_quarry1",
                "subscription": "sub_1",
                "subscription_details": {"metadata": meta},
            },
        )
        assert (await webhook(gateway, invoice, sign(invoice))).json()["outcome"] in ("applied", "unchanged")
        gone = event(
            "evt_sub_gone", "customer.subscription.deleted", {"id": "sub_1", "status": "canceled", "metadata": meta}
        )
        assert (await webhook(gateway, gone, sign(gone))).json()["outcome"] == "applied"
        assert (await owner.get("/v1/billing/summary")).json()["plan"]["name"] == "free"

        refund = event(
            "evt_refund",
            "charge.refunded",
            {
                "id": "ch_1",
                "amount": 1200,
                "amount_refunded": 1200,
                "metadata": {"tenant_id": owner.tenant_id, "pack": "pack_1k"},
            },
        )
        assert (await webhook(gateway, refund, sign(refund))).json()["outcome"] == "applied"
        assert (await webhook(gateway, refund, sign(refund))).json()["outcome"] == "unchanged"

        # The ledger pages hold every movement once, each naming its actor and cause.
        page = (await owner.get("/v1/billing/ledger", params={"limit": 2})).json()
        entries = page["entries"]
        while page["next_after"] is not None:
            page = (await owner.get("/v1/billing/ledger", params={"after": page["next_after"], "limit": 2})).json()
            entries += page["entries"]
        kinds = [e["kind"] for e in entries]
        assert kinds.count("purchased") == 1 and kinds.count("adjusted") == 1, kinds
        purchase = next(e for e in entries if e["kind"] == "purchased")
        assert purchase["actor"] == "stripe" and purchase["cause"] == paid.split('"id": "')[1].split('"')[0]
        assert entries[-1]["balance"] == await owner.balance()


async def test_mock_mode_applies_checkout_at_once_and_refuses_webhooks(
    billing_settings: BillingSettings, gateway: httpx.AsyncClient
) -> None:
    async with billing_service(billing_settings):
        owner = await signup(gateway)
        for _ in range(2):  # a retry with the same key buys once
            r = await owner.post("/v1/billing/checkout", {"kind": "pack", "item": "pack_1k"}, key="mock-1")
            assert r.status_code == 201 and r.json()["completed"] and r.json()["mode"] == "mock", r.text
        assert await owner.balance() == FREE + PACK
        r = await owner.post("/v1/billing/checkout", {"kind": "subscription", "item": "pro"}, key="mock-2")
        assert r.status_code == 201, r.text
        summary = (await owner.get("/v1/billing/summary")).json()
        assert summary["plan"]["name"] == "pro" and summary["stripe_mode"] == "mock"
        body = event("evt_x", "invoice.paid", {})
        r = await webhook(gateway, body, sign(body))
        assert r.status_code == 400 and "QUARRY_STRIPE_WEBHOOK_SECRET" in r.json()["detail"]
        assert (await owner.post("/v1/billing/portal", {})).status_code == 409


async def test_the_billing_pages_are_503_when_billing_does_not_answer(gateway: httpx.AsyncClient) -> None:
    owner = await signup(gateway)
    r = await owner.get("/v1/billing/summary")
    assert r.status_code == 503 and "billing did not answer" in r.json()["detail"]
