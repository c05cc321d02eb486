"""The ledger's entries name their causes, and it balances whatever the order and however often
events arrive."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.question import QuestionAnswered, QuestionAsked, QuestionFailed
from contracts.run import RunCompleted, RunFailed, RunFailedPayload, RunRequested
from contracts.usage import UsageRecorded
from quarry_runtime.errors import NotReady
from services.billing.plans import estimate_question, estimate_run, usage_credits
from services.billing.queries import ledger_page, summary
from tests.support.credits import (
    FREE,
    answered,
    asked,
    billing_at,
    completed,
    deliver_to,
    question_failed,
    question_usage,
    request,
    run_to_completion,
    stripe_event,
    usage,
)


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
            deliver_to(app, ev)
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
            res = ledger.reservations.get(ev.payload.question_id)
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
