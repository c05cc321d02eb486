"""The credit ledger on in-memory storage: reservations, settlement and refunds, its
invariants, and prices by tool."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.ids import new_id
from contracts.run import RunFailed, RunFailedPayload, RunRequested, RunRequestedPayload
from contracts.usage import UsageRecorded
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
    estimate_run,
    overage_price,
    usage_credits,
)
from tests.support.credits import FREE, POPO, billing_at, completed, deliver_to, request, run_to_completion, usage


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
        with contextlib.suppress(NotReady):
            deliver_to(app, ev)

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
