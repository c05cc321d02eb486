"""The credit ledger and billing's use cases, on in-memory storage."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.envelope import Actor
from contracts.ids import new_id
from contracts.question import (
    QuestionAnswered,
    QuestionAnsweredPayload,
    QuestionAsked,
    QuestionAskedPayload,
    QuestionFailed,
    QuestionFailedPayload,
)
from contracts.run import (
    RunCompleted,
    RunCompletedPayload,
    RunFailed,
    RunFailedPayload,
    RunRequested,
    RunRequestedPayload,
)
from contracts.usage import UsageRecorded, UsageRecordedPayload
from quarry_runtime.errors import NotReady
from services.billing.application import Billing
from services.billing.domain import Ledger, LedgerError
from services.billing.plans import (
    CALL_UNITS,
    CREDITS_PER_ATTACHMENT,
    PLANS,
    PRICES,
    budget_tier,
    concurrency_limit,
    estimate_question,
    estimate_run,
    overage_price,
    usage_credits,
)
from services.billing.queries import ledger_page, summary
from services.billing.translate import translate
from services.billing.webhooks import apply_stripe_event

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
FREE = PLANS["free"].monthly_credits


def request(tenant: str = "t1", depth: int = 1, max_sources: int = 5) -> RunRequested:
    return RunRequested.create(
        RunRequestedPayload(question="what is x?", depth=depth, max_sources=max_sources),
        tenant_id=tenant,
        run_id=new_id(),
    )


def usage(req: RunRequested, n: int, search_calls: int = 1) -> UsageRecorded:
    payload = UsageRecordedPayload(task_id=f"task-{n}", kind="search", tool="web_search", search_calls=search_calls)
    return UsageRecorded.caused_by(req, payload, name=f"usage:{n}")


def completed(req: RunRequested, usages: list[UsageRecorded]) -> RunCompleted:
    payload = RunCompletedPayload(usage_event_ids=[u.event_id for u in usages], sources=3)
    return RunCompleted.caused_by(req, payload)


def test_a_new_tenant_gets_free_credits_and_a_reservation() -> None:
    app = Billing(env=POPO)
    req = request()
    app.admit(req)
    ledger = app.ledger("t1")
    assert ledger.granted == FREE
    assert ledger.balance == FREE - estimate_run(1, 5)
    assert ledger.reserved == estimate_run(1, 5)


def test_completion_settles_usage_and_refunds_the_rest() -> None:
    app = Billing(env=POPO)
    req = request()
    app.admit(req)
    uses = [usage(req, i) for i in range(3)]
    for u in uses:
        app.meter(u)
        app.meter(u)  # a duplicate delivery is metered once
    app.close_run(completed(req, uses))
    ledger = app.ledger("t1")
    res = ledger.reservations[req.run_id or ""]
    charged = 3 * usage_credits(0, 1, 0, "web_search")
    assert res.settled == charged
    assert res.settled + res.refunded == res.amount
    assert ledger.balance == FREE - charged


def test_completion_waits_for_usage_not_yet_metered() -> None:
    app = Billing(env=POPO)
    req = request()
    app.admit(req)
    uses = [usage(req, 0)]
    with pytest.raises(NotReady):
        app.close_run(completed(req, uses))
    app.meter(uses[0])
    app.close_run(completed(req, uses))
    assert app.ledger("t1").reservations[req.run_id or ""].closed


def test_a_failed_run_is_refunded_in_full() -> None:
    app = Billing(env=POPO)
    req = request()
    app.admit(req)
    app.meter(usage(req, 0))
    app.close_run(RunFailed.caused_by(req, RunFailedPayload(reason="boom")))
    assert app.ledger("t1").balance == FREE


def test_a_short_balance_denies_and_reserves_nothing() -> None:
    app = Billing(env=POPO)
    for _ in range(100):
        app.admit(request(depth=3, max_sources=50))
    ledger = app.ledger("t1")
    assert ledger.balance >= 0
    assert ledger.balance < estimate_run(3, 50)
    assert ledger.balance + ledger.reserved == FREE


def test_settling_twice_is_refused() -> None:
    ledger = Ledger(tenant_id="t", plan="free")
    ledger.grant(100, "test")
    ledger.reserve("r1", 50, cause="c1")
    ledger.refund("r1", "failed", cause="c2")
    with pytest.raises(LedgerError):
        ledger.refund("r1", "failed", cause="c3")


ops = st.lists(
    st.tuples(
        st.sampled_from(["request", "usage", "complete", "fail", "replay"]), st.integers(0, 5), st.integers(0, 3)
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_ledger_invariants_hold_under_random_sequences_with_duplicates(sequence: list[tuple[str, int, int]]) -> None:
    """Whatever order and however often events arrive, credits are neither created nor lost."""
    app = Billing(env=POPO)
    runs: list[RunRequested] = []
    uses: dict[str, list[UsageRecorded]] = {}
    delivered: list[object] = []

    def deliver(ev: object) -> None:
        delivered.append(ev)
        try:
            if isinstance(ev, RunRequested):
                app.admit(ev)
            elif isinstance(ev, UsageRecorded):
                app.meter(ev)
            elif isinstance(ev, RunCompleted | RunFailed):
                app.close_run(ev)
        except NotReady:
            pass

    for op, i, n in sequence:
        if op == "request":
            req = request(depth=1 + n % 3, max_sources=5 + 10 * n)
            runs.append(req)
            uses[req.run_id or ""] = []
            deliver(req)
        elif op == "usage" and runs:
            req = runs[i % len(runs)]
            u = usage(req, len(uses[req.run_id or ""]), search_calls=n)
            uses[req.run_id or ""].append(u)
            deliver(u)
        elif op == "complete" and runs:
            req = runs[i % len(runs)]
            deliver(completed(req, uses[req.run_id or ""]))
        elif op == "fail" and runs:
            deliver(RunFailed.caused_by(runs[i % len(runs)], RunFailedPayload(reason="x")))
        elif op == "replay" and delivered:
            deliver(delivered[i % len(delivered)])

    ledger = app.ledger("t1")
    assert ledger.balance >= 0
    settled = sum(r.settled for r in ledger.reservations.values())
    for res in ledger.reservations.values():
        if res.closed:
            assert res.settled + res.refunded == res.amount
            assert res.settled <= sum(res.usage.values()) or res.settled == res.amount
    assert ledger.balance + ledger.reserved + settled == ledger.granted


# -- plans, tiers, overage -------------------------------------------------------------------


def test_overage_is_priced_by_graduated_tiers() -> None:
    assert overage_price(0) == Decimal("0.00")
    assert overage_price(1_000) == Decimal("0.01")  # 0.012 rounds to the cent
    assert overage_price(500_000) == Decimal("6.00")  # 500 x 0.012
    assert overage_price(2_000_000) == Decimal("18.00")  # 6 + 1500 x 0.008
    assert overage_price(3_000_000) == Decimal("23.00")  # 18 + 1000 x 0.005


def test_budget_tiers_and_throttled_concurrency() -> None:
    assert [budget_tier(p) for p in (0, 74, 75, 90, 91, 100)] == [
        "allow",
        "allow",
        "throttle",
        "throttle",
        "block",
        "block",
    ]
    assert concurrency_limit(PLANS["pro"], "allow") == 10
    assert concurrency_limit(PLANS["pro"], "throttle") == 5
    assert estimate_run(1, 5, attachments=2) == estimate_run(1, 5) + 2 * CREDITS_PER_ATTACHMENT


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def billing_at(at: datetime) -> tuple[Billing, Clock]:
    app = Billing(env=POPO)
    clock = Clock(at)
    app.clock = clock
    return app, clock


def run_to_completion(app: Billing, tenant: str, searches: int, tool: str = "web_search") -> RunRequested:
    req = request(tenant)
    app.admit(req)
    uses = [
        UsageRecorded.caused_by(
            req, UsageRecordedPayload(task_id=f"t{i}", kind="search", tool=tool, search_calls=1), name=f"u{i}"
        )
        for i in range(searches)
    ]
    for u in uses:
        app.meter(u)
    app.close_run(completed(req, uses))
    return req


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


# -- Stripe events ---------------------------------------------------------------------------


def stripe_event(event_id: str, kind: str, obj: dict[str, Any], created: int = 1_700_000_000) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "created": created, "data": {"object": obj}}


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


def test_every_entry_names_its_run_usage_and_actor() -> None:
    app, _ = billing_at(datetime(2026, 5, 5, tzinfo=UTC))
    req = run_to_completion(app, "t1", searches=2)
    entries = ledger_page(app, "t1", 0, 100).entries
    by_kind = {e.kind: e for e in entries}
    assert set(by_kind) == {"granted", "reserved", "settled", "refunded"}
    assert by_kind["reserved"].run_id == req.run_id and by_kind["reserved"].cause == req.event_id
    assert len(by_kind["settled"].usage_event_ids) == 2 and by_kind["settled"].amount == 4
    assert by_kind["settled"].balance == FREE - estimate_run(1, 5)
    assert by_kind["refunded"].balance == FREE - 4
    assert all(e.actor for e in entries)
    first = ledger_page(app, "t1", 0, 2)
    rest = ledger_page(app, "t1", first.next_after or 0, 100)
    assert [e.seq for e in first.entries + rest.entries] == [e.seq for e in entries]
    assert rest.next_after is None or not ledger_page(app, "t1", rest.next_after, 10).entries
    recent = summary(app, "t1", 3, "mock").recent
    assert [e.seq for e in recent] == [e.seq for e in entries][::-1][:3]
    assert summary(app, "t1", 0, "mock").used_by_run == {req.run_id: 4}


@st.composite
def shuffled_deliveries(draw: st.DrawFn) -> tuple[list[object], list[int]]:
    """A tenant's events (runs with usage and an outcome, Stripe payments and refunds) and a
    delivery order over them: any permutation, with duplicates."""
    events: list[object] = []
    for n in range(draw(st.integers(1, 6))):
        req = request(depth=draw(st.integers(1, 3)), max_sources=draw(st.integers(1, 20)))
        uses = [usage(req, i, search_calls=draw(st.integers(0, 4))) for i in range(draw(st.integers(0, 3)))]
        outcome = draw(st.sampled_from(["complete", "fail", "none"]))
        events += [req, *uses]
        if outcome == "complete":
            events.append(completed(req, uses))
        elif outcome == "fail":
            events.append(RunFailed.caused_by(req, RunFailedPayload(reason="boom")))
        for _ in range(draw(st.integers(0, 2))):  # follow-up questions, whatever became of the run
            q = asked(req)
            spent = [
                question_usage(q, i, tokens=draw(st.integers(0, 12_000)), searches=draw(st.integers(0, 3)))
                for i in range(draw(st.integers(0, 3)))
            ]
            events += [q, *spent]
            closing = draw(st.sampled_from(["answered", "failed", "none"]))
            if closing == "answered":
                events.append(answered(q, spent))
            elif closing == "failed":
                events.append(question_failed(q))
        if draw(st.booleans()):
            meta = {"tenant_id": "t1", "pack": "pack_1k"}
            paid = {"id": f"cs_{n}", "mode": "payment", "payment_status": "paid", "metadata": meta}
            events.append(stripe_event(f"evt_pay_{n}", "checkout.session.completed", paid))
            refunded = draw(st.sampled_from([0, 600, 1200]))
            if refunded:
                charge = {"id": f"ch_{n}", "amount": 1200, "amount_refunded": refunded, "metadata": meta}
                events.append(stripe_event(f"evt_ref_{n}", "charge.refunded", charge))
    order = draw(st.permutations(range(len(events))))
    dupes = draw(st.lists(st.integers(0, len(events) - 1), max_size=len(events)))
    positions = draw(st.lists(st.integers(0, len(order)), min_size=len(dupes), max_size=len(dupes)))
    merged = list(order)
    for d, p in zip(dupes, positions, strict=True):
        merged.insert(p, d)
    return events, merged


@settings(max_examples=80, deadline=None)
@given(shuffled_deliveries())
def test_ledger_balances_whatever_the_order_and_however_often_events_arrive(
    plan: tuple[list[object], list[int]],
) -> None:
    """Out of order and duplicated delivery (events waiting for what they depend on are
    redelivered, as JetStream does): each credit is counted once and none is lost."""
    events, order = plan
    app, _ = billing_at(datetime(2026, 6, 1, tzinfo=UTC))

    def deliver(ev: object) -> bool:
        try:
            if isinstance(ev, RunRequested):
                app.admit(ev)
            elif isinstance(ev, UsageRecorded):
                app.meter(ev)
            elif isinstance(ev, RunCompleted | RunFailed):
                app.close_run(ev)
            elif isinstance(ev, QuestionAsked):
                app.ask_question(ev)
            elif isinstance(ev, QuestionAnswered | QuestionFailed):
                app.close_question(ev)
            elif isinstance(ev, dict):
                apply_stripe_event(app, ev)
        except NotReady:
            return False
        return True

    pending = [events[i] for i in order]
    for _ in range(5):  # redeliveries until everything that can be applied is
        pending = [ev for ev in pending if not deliver(ev)]
    ledger = app.ledger("t1")
    assert not pending  # nothing waits forever: every usage a completion names was delivered
    assert ledger.balance >= ledger.floor()
    assert ledger.credited == ledger.balance + ledger.reserved + ledger.settled
    usages = {e.event_id: e for e in events if isinstance(e, UsageRecorded)}
    assert ledger.metered == {
        uid: usage_credits(u.payload.tokens_in, u.payload.search_calls, 0, u.payload.tool) for uid, u in usages.items()
    }
    purchases = {e["id"] for e in events if isinstance(e, dict) and e["type"] == "checkout.session.completed"}
    assert ledger.purchased == 1000 * len(purchases)
    refunds = [e for e in events if isinstance(e, dict) and e["type"] == "charge.refunded"]
    taken = sum(1000 * e["data"]["object"]["amount_refunded"] // 1200 for e in refunds)
    assert -ledger.adjusted <= taken and sum(ledger.taken_back.values()) == taken
    for ev in events:
        if isinstance(ev, RunCompleted | RunFailed):
            res = ledger.reservations.get(ev.run_id or "")
            if res is not None:
                # The usage is charged past the reservation, as far as the plan's floor allows.
                assert res.closed and res.refunded == max(0, res.amount - res.settled)
                if isinstance(ev, RunFailed):  # the platform's fault (the default): refunded in full
                    assert res.settled == 0
                else:
                    used = sum(ledger.metered[u] for u in ev.payload.usage_event_ids)
                    assert min(res.amount, used) <= res.settled <= used
        if isinstance(ev, QuestionAsked):  # every question holds its estimate once, or is denied
            question_id = ev.payload.question_id
            if question_id in ledger.denied_runs:
                assert question_id not in ledger.reservations
                continue
            res = ledger.reservations[question_id]
            assert res.about_run == ev.payload.run_id and res.amount == estimate_question()
        if isinstance(ev, QuestionAnswered | QuestionFailed):
            res = ledger.reservations.get(ev.payload.question_id)  # type: ignore[assignment]
            if res is None:
                assert ev.payload.question_id in ledger.denied_runs
                continue
            assert res.closed and res.refunded == max(0, res.amount - res.settled)
            used = sum(ledger.metered[u] for u in ev.payload.usage_event_ids)
            if isinstance(ev, QuestionAnswered):
                assert min(res.amount, used) <= res.settled <= used
            else:
                assert res.settled == 0
    assert ledger.open_runs == sum(
        1
        for e in events
        if isinstance(e, RunRequested)
        and not any(isinstance(o, RunCompleted | RunFailed) and o.run_id == e.run_id for o in events)
        and (e.run_id or "") in ledger.reservations
    )


# -- prices by tool ------------------------------------------------------------------------------

REGISTRY = Path(__file__).resolve().parents[2] / "services" / "policy" / "registry.yaml"


def test_billing_prices_every_tool_as_the_policy_registry_declares() -> None:
    """Billing keeps its own price list (services share no files); it must say what the registry says."""
    tools = yaml.safe_load(REGISTRY.read_text())["tools"]
    declared = {name: (tool["cost"]["unit"], tool["cost"]["credits"]) for name, tool in tools.items()}
    priced = {name: (price.unit, price.credits) for name, price in PRICES.items()}
    assert priced == declared
    assert {price.unit for price in PRICES.values()} <= CALL_UNITS | {"1k_tokens", "compute_minute", "report"}


def test_usage_is_charged_by_the_tool_that_was_used() -> None:
    assert usage_credits(0, 3, 0, "fetch_url") == 3  # pages at 1, not search calls at 2
    assert usage_credits(0, 3, 0, "web_search") == 6
    assert usage_credits(0, 2, 0, "recall_memory") == 2
    assert usage_credits(0, 2, 0, "read_dataset") == 6
    assert usage_credits(2_500, 0, 0, "answer_question") == 3
    assert usage_credits(0, 0, 61, "index_memory") == 2
    assert usage_credits(0, 0, 0, "publish_report") == 5
    assert usage_credits(1_000, 1, 0, "fetch_url") == 2  # tokens at the base rate beside the pages
    assert usage_credits(0, 1, 0, "a_tool_billing_does_not_know") == 2  # the base rates


def test_a_fetched_page_is_settled_at_the_fetch_price() -> None:
    app, _ = billing_at(datetime(2026, 5, 5, tzinfo=UTC))
    run_to_completion(app, "t1", searches=4, tool="fetch_url")
    assert app.ledger("t1").used_by_tool == {"fetch_url": 4}


# -- attachments in the estimate -------------------------------------------------------------


def test_the_datasets_a_run_names_are_counted_in_its_estimate() -> None:
    app, _ = billing_at(datetime(2026, 5, 5, tzinfo=UTC))
    plain = request()
    named = RunRequested.create(
        RunRequestedPayload(question="what is x?", depth=1, max_sources=5, datasets=["sales", "churn", "crm"]),
        tenant_id="t1",
        run_id=new_id(),
    )
    app.admit(plain)
    app.admit(named)
    reservations = app.ledger("t1").reservations
    assert reservations[plain.run_id or ""].amount == estimate_run(1, 5)
    assert reservations[named.run_id or ""].amount == estimate_run(1, 5) + 3 * CREDITS_PER_ATTACHMENT


# -- follow-up questions -----------------------------------------------------------------------


def asked(run: RunRequested, tenant: str = "t1") -> QuestionAsked:
    question_id = new_id()
    payload = QuestionAskedPayload(question_id=question_id, run_id=run.run_id or "", text="and then?")
    return QuestionAsked.create(payload, tenant_id=tenant, run_id=question_id, actor=Actor(user_id="u1"))


def question_usage(q: QuestionAsked, n: int, tokens: int = 0, searches: int = 0) -> UsageRecorded:
    tool, kind = ("answer_question", "answer") if tokens else ("recall_memory", "recall")
    payload = UsageRecordedPayload(task_id=f"{kind}-{n}", kind=kind, tool=tool, tokens_in=tokens, search_calls=searches)
    return UsageRecorded.caused_by(q, payload, name=f"qusage:{n}")


def answered(q: QuestionAsked, uses: list[UsageRecorded]) -> QuestionAnswered:
    payload = QuestionAnsweredPayload(
        question_id=q.payload.question_id,
        run_id=q.payload.run_id,
        answer="x [1]",
        citations=[],
        usage_event_ids=[u.event_id for u in uses],
    )
    return QuestionAnswered.caused_by(q, payload)


def question_failed(q: QuestionAsked) -> QuestionFailed:
    payload = QuestionFailedPayload(question_id=q.payload.question_id, run_id=q.payload.run_id, reason="timed out")
    return QuestionFailed.caused_by(q, payload)


def test_a_question_holds_its_estimate_and_is_charged_its_usage() -> None:
    app, _ = billing_at(datetime(2026, 5, 5, tzinfo=UTC))
    run = run_to_completion(app, "t1", searches=2)
    before = app.ledger("t1").balance
    q = asked(run)
    app.ask_question(q)
    app.ask_question(q)  # redelivered: held once
    ledger = app.ledger("t1")
    assert ledger.reservations[q.payload.question_id].amount == estimate_question() == 20
    assert ledger.balance == before - estimate_question() and ledger.open_runs == 0
    uses = [question_usage(q, 0, searches=2), question_usage(q, 1, tokens=3_200)]
    early = answered(q, uses)
    with pytest.raises(NotReady):  # its usage is not metered yet
        app.close_question(early)
    for u in uses:
        app.meter(u)
        app.meter(u)
    app.close_question(early)
    app.close_question(early)
    ledger = app.ledger("t1")
    res = ledger.reservations[q.payload.question_id]
    assert (res.settled, res.refunded, res.closed) == (2 + 4, estimate_question() - 6, True)
    assert ledger.balance == before - 6
    assert ledger.used_by_tool == {"web_search": 4, "recall_memory": 2, "answer_question": 4}
    assert ledger.used_by_run == {run.run_id: 4 + 6}  # a follow-up counts toward the run it asks about
    assert ledger.credited == ledger.balance + ledger.reserved + ledger.settled
    entries = [e for e in ledger_page(app, "t1", 0, 100).entries if e.question_id]
    assert [e.kind for e in entries] == ["reserved", "settled", "refunded"]
    assert all(e.question_id == q.payload.question_id and e.run_id == run.run_id for e in entries)
    assert entries[1].usage_event_ids == [u.event_id for u in uses] and entries[0].actor == "user:u1"


def test_a_failed_question_is_refunded_and_an_answer_before_its_question_waits() -> None:
    app, _ = billing_at(datetime(2026, 5, 5, tzinfo=UTC))
    run = run_to_completion(app, "t1", searches=1)
    before = app.ledger("t1").balance
    q = asked(run)
    u = question_usage(q, 0, searches=1)
    app.meter(u)
    with pytest.raises(NotReady):  # overtook its own question
        app.close_question(question_failed(q))
    app.ask_question(q)
    app.close_question(question_failed(q))
    res = app.ledger("t1").reservations[q.payload.question_id]
    assert (res.settled, res.refunded) == (0, estimate_question())
    assert app.ledger("t1").balance == before
    late = asked(run)
    app.ask_question(late)
    app.close_question(answered(late, []))
    assert app.ledger("t1").reservations[late.payload.question_id].settled == 0


def test_a_question_the_balance_cannot_cover_is_denied_and_charged_nothing() -> None:
    app, _ = billing_at(datetime(2026, 5, 5, tzinfo=UTC))
    spend = run_to_completion(app, "t1", searches=1)
    ledger = app.ledger("t1")
    ledger.adjust(-(ledger.balance - 7), "test: leave 7 credits", cause="adj", actor="test")  # the free floor is 0
    app.save(ledger)
    broke = asked(spend)
    app.ask_question(broke)
    app.ask_question(broke)  # redelivered: denied once
    ledger = app.ledger("t1")
    assert broke.payload.question_id not in ledger.reservations
    assert broke.payload.question_id in ledger.denied_runs and ledger.balance == 7
    app.close_question(question_failed(broke))  # the orchestrator ended it: nothing to refund, nothing waits
    ledger_id = Ledger.create_id("t1")
    published = [
        out.event
        for stored in app.stored_entries("t1", 0, 1000)
        for out in translate(stored, lambda _id, version: app.repository.get(ledger_id, version=version))
    ]
    denials = [e for e in published if getattr(e.payload, "question_id", None) == broke.payload.question_id]
    assert [e.type for e in denials] == ["credits.denied"] and denials[0].run_id is None
    assert denials[0].payload.reason == "needs 20 credits, 7 available"  # type: ignore[attr-defined]
    assert denials[0].payload.about_run_id == spend.run_id  # type: ignore[attr-defined]
    # With credits again, a question holds its estimate and is never charged past it.
    ledger = app.ledger("t1")
    ledger.adjust(13, "test: top up to 20", cause="adj2", actor="test")
    app.save(ledger)
    q = asked(spend)
    app.ask_question(q)
    assert app.ledger("t1").reservations[q.payload.question_id].amount == estimate_question()
    uses = [question_usage(q, 0, searches=2), question_usage(q, 1, tokens=30_000)]
    for u in uses:
        app.meter(u)
    app.close_question(answered(q, uses))
    ledger = app.ledger("t1")
    assert ledger.balance == 0 and ledger.reservations[q.payload.question_id].settled == estimate_question()


def test_question_credits_are_published_without_a_run_and_name_the_question() -> None:
    app, _ = billing_at(datetime(2026, 5, 5, tzinfo=UTC))
    run = run_to_completion(app, "t1", searches=1)
    q = asked(run)
    app.ask_question(q)
    u = question_usage(q, 0, searches=1)
    app.meter(u)
    app.close_question(answered(q, [u]))
    ledger_id = Ledger.create_id("t1")
    published = [
        out.event
        for stored in app.stored_entries("t1", 0, 1000)
        for out in translate(stored, lambda _id, version: app.repository.get(ledger_id, version=version))
    ]
    mine = [e for e in published if getattr(e.payload, "question_id", None)]
    assert [e.type for e in mine] == ["credits.reserved", "credits.settled", "credits.refunded"]
    assert all(e.run_id is None and e.payload.about_run_id == run.run_id for e in mine)  # type: ignore[attr-defined]
    assert [e.payload.amount for e in mine] == [estimate_question(), 1, estimate_question() - 1]  # type: ignore[attr-defined]
    runs = [e for e in published if e.type.startswith(("credits.reserved", "credits.settled")) and e not in mine]
    assert len(runs) == 2 and all(e.run_id == run.run_id for e in runs)  # the run's own keep their run id


# -- overage in the summary --------------------------------------------------------------------


def test_the_summary_prices_the_periods_overage_by_the_tiered_rates() -> None:
    """Overage crossing 500k tokens and then 2M: each slice at its own rate."""
    app, _ = billing_at(datetime(2026, 7, 3, tzinfo=UTC))
    app.subscribe("t1", "pro", cause="evt_sub")
    budget = app.ledger("t1").period_budget
    assert budget == PLANS["pro"].monthly_credits
    cap = estimate_run(3, 50)

    def overspend(credits: int) -> None:
        while credits > 0:
            req = request(depth=3, max_sources=50)
            app.admit(req)
            take = min(credits, cap)
            use = UsageRecorded.caused_by(
                req, UsageRecordedPayload(task_id="t", kind="synthesise", tool="llm_generate", tokens_in=take * 1000)
            )
            app.meter(use)
            app.close_run(completed(req, [use]))
            credits -= take

    overspend(budget + 600)  # 600k tokens of overage: 500k at 0.012, 100k at 0.008
    s = summary(app, "t1", 0, "mock")
    assert (s.overage.credits, s.overage.tokens, s.overage.amount_usd) == (600, 600_000, "6.80")
    overspend(2_000)  # 2.6M tokens: + 1.5M at 0.008 (to 2M), 600k at 0.005
    s = summary(app, "t1", 0, "mock")
    assert (s.overage.credits, s.overage.tokens) == (2_600, 2_600_000)
    assert Decimal(s.overage.amount_usd) == Decimal("6") + Decimal("12") + Decimal("3") == overage_price(2_600_000)
    assert s.used_by_tool == {"llm_generate": budget + 2_600} and s.tier == "block"
