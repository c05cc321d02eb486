"""The credit ledger and billing's use cases, on in-memory storage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.ids import new_id
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
from services.billing.plans import PLANS, estimate_run, usage_credits

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
