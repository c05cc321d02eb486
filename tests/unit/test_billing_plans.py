"""Billing's plans over time, on in-memory storage: periods, overdraft caps, concurrency, and
Stripe's events applied once."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.run import RunFailed, RunFailedPayload
from services.billing.plans import PLANS, estimate_run, overage_price
from services.billing.queries import ledger_page, summary
from services.billing.webhooks import apply_stripe_event
from tests.support.credits import FREE, billing_at, completed, request, run_to_completion, stripe_event, usage


def test_a_new_period_expires_unused_plan_credits_but_keeps_bought_ones() -> None:
    app, clock = billing_at(datetime(2026, 1, 20, tzinfo=UTC))
    app.purchase("t1", "pack_1k", reference="cs_1", cause="evt_1")
    run_to_completion(app, "t1", searches=3)  # 6 credits used, from the plan's credits first
    ledger = app.ledger("t1")
    assert ledger.period == "2026-01" and ledger.balance == FREE + 1000 - 6
    clock.at = datetime(2026, 2, 1, tzinfo=UTC)
    run_to_completion(app, "t1", searches=1)
    ledger = app.ledger("t1")
    assert ledger.period == "2026-02"
    assert ledger.expired == FREE - 6
    assert ledger.balance == 1000 + FREE - 2
    assert ledger.credited == ledger.balance + ledger.reserved + ledger.settled
    kinds = [e.kind for e in ledger_page(app, "t1", 0, 100).entries]
    assert kinds.count("expired") == 1 and kinds.count("granted") == 2 and kinds.count("purchased") == 1


def test_free_plan_never_goes_below_zero_and_pro_may_overdraw_to_its_cap() -> None:
    app, _ = billing_at(datetime(2026, 3, 2, tzinfo=UTC))
    big = request(depth=3, max_sources=50)
    app.admit(big)
    ledger = app.ledger("t1")
    assert estimate_run(3, 50) > FREE and big.run_id not in ledger.reservations and ledger.balance == FREE

    pro, _ = billing_at(datetime(2026, 3, 2, tzinfo=UTC))
    pro.subscribe("t2", "pro", cause="evt_sub")
    assert pro.ledger("t2").balance == PLANS["pro"].monthly_credits  # the upgrade grants the difference
    for _ in range(40):
        req = request("t2", depth=3, max_sources=50)
        pro.admit(req)
        uses = [usage(req, i, search_calls=300) for i in range(2)]
        for u in uses:
            pro.meter(u)
        pro.close_run(completed(req, uses))
    ledger = pro.ledger("t2")
    # Overdrawn by the whole usage (not capped at each run's estimate), down to the overage cap.
    assert ledger.balance == -PLANS["pro"].overage_cap < PLANS["pro"].monthly_credits - 40 * estimate_run(3, 50)
    assert ledger.overage == ledger.period_settled - ledger.period_budget > 0
    s = summary(pro, "t2", 5, "mock")
    assert s.overage.credits == ledger.overage
    assert s.overage.amount_usd == str(overage_price(ledger.overage * 1000))
    assert s.tier == "block" and s.used_by_tool == {"web_search": ledger.period_settled}
    # Past the cap, a run is denied.
    for _ in range(20):
        pro.admit(request("t2", depth=3, max_sources=50))
    assert pro.ledger("t2").balance >= -PLANS["pro"].overage_cap


def test_concurrency_is_the_plans_and_halves_when_throttled() -> None:
    app, _ = billing_at(datetime(2026, 3, 2, tzinfo=UTC))
    reqs = [request(depth=1, max_sources=1) for _ in range(PLANS["free"].concurrency + 1)]
    for req in reqs:
        app.admit(req)
    ledger = app.ledger("t1")
    assert ledger.open_runs == PLANS["free"].concurrency
    assert reqs[-1].run_id not in ledger.reservations
    for req in reqs[:-1]:
        app.close_run(RunFailed.caused_by(req, RunFailedPayload(reason="x")))
    app.purchase("t1", "pack_1k", reference="cs", cause="evt_p")
    for _ in range(10):
        if app.ledger("t1").tier != "allow":
            break
        req = request(depth=2, max_sources=10)  # within the free plan; the usage past it is charged
        app.admit(req)
        used = [usage(req, 0, search_calls=133)]
        app.meter(used[0])
        app.close_run(completed(req, used))
    ledger = app.ledger("t1")
    assert ledger.tier == "throttle" and 75 <= ledger.used_pct <= 90
    small = [request(depth=1, max_sources=1) for _ in range(3)]
    for req in small:
        app.admit(req)
    ledger = app.ledger("t1")
    assert [r.run_id in ledger.reservations for r in small] == [True, True, False]
    changes = [e for e in app.stored_entries("t1", 0, 1000) if type(e).__name__ == "TierChanged"]
    assert any(c.tier == "throttle" and c.previous == "allow" for c in changes)
    denied = [e for e in app.stored_entries("t1", 0, 1000) if type(e).__name__ == "Denied"]
    assert "budget is used" in denied[-1].reason


def test_stripe_events_apply_once_and_stale_subscription_changes_are_ignored() -> None:
    app, _ = billing_at(datetime(2026, 4, 1, tzinfo=UTC))
    paid = stripe_event(
        "evt_pack",
        "checkout.session.completed",
        {
            "id": "cs_1",
            "mode": "payment",
            "payment_status": "paid",
            "customer": "cus_1",
            "metadata": {"tenant_id": "t1", "pack": "pack_1k"},
        },
    )
    assert apply_stripe_event(app, paid) == "applied"
    assert apply_stripe_event(app, paid) == "unchanged"
    assert app.ledger("t1").purchased == 1000
    refund = {"id": "ch_1", "amount": 1200, "amount_refunded": 600, "metadata": {"tenant_id": "t1", "pack": "pack_1k"}}
    assert apply_stripe_event(app, stripe_event("evt_r1", "charge.refunded", refund)) == "applied"
    full = dict(refund, amount_refunded=1200)
    assert apply_stripe_event(app, stripe_event("evt_r2", "charge.refunded", full)) == "applied"
    # A redelivered or overtaken partial refund takes nothing more back.
    assert apply_stripe_event(app, stripe_event("evt_r1", "charge.refunded", refund)) == "unchanged"
    assert apply_stripe_event(app, stripe_event("evt_r1b", "charge.refunded", refund)) == "unchanged"
    assert app.ledger("t1").balance == FREE

    sub = {"id": "sub_1", "customer": "cus_1", "status": "active", "metadata": {"tenant_id": "t1", "plan": "pro"}}
    earlier = stripe_event("evt_s1", "customer.subscription.updated", sub, created=100)
    later = stripe_event("evt_s2", "customer.subscription.updated", dict(sub, status="canceled"), created=200)
    assert apply_stripe_event(app, earlier) == "applied"
    ledger = app.ledger("t1")
    assert ledger.plan == "pro" and ledger.subscription_id == "sub_1" and ledger.customer_id == "cus_1"
    assert apply_stripe_event(app, later) == "applied"
    assert app.ledger("t1").plan == "free"
    # Redelivered, or a change Stripe made before the last one applied: stale, nothing changes.
    assert apply_stripe_event(app, earlier) == "unchanged"
    assert apply_stripe_event(app, stripe_event("evt_s0", "customer.subscription.updated", sub, created=50)) == (
        "unchanged"
    )
    assert app.ledger("t1").plan == "free"
    assert apply_stripe_event(app, stripe_event("evt_s3", "customer.subscription.updated", sub, created=400)) == (
        "applied"
    )
    assert app.ledger("t1").plan == "pro"
    other = stripe_event("evt_d0", "customer.subscription.deleted", dict(sub, id="sub_old"), created=450)
    assert apply_stripe_event(app, other).startswith("ignored")
    assert apply_stripe_event(app, stripe_event("evt_d", "customer.subscription.deleted", sub, created=500)) == (
        "applied"
    )
    assert app.ledger("t1").plan == "free"
    assert apply_stripe_event(app, stripe_event("evt_x", "customer.created", {})).startswith("ignored")
    assert apply_stripe_event(app, stripe_event("evt_y", "invoice.paid", {"metadata": {}})).startswith("ignored")
