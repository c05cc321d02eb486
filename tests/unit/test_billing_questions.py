"""Follow-up questions billed on in-memory storage: held, charged, refunded or denied, and the
period's summary."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from contracts.usage import UsageRecorded, UsageRecordedPayload
from quarry_runtime.errors import NotReady
from services.billing.application import Billing
from services.billing.domain import Ledger
from services.billing.plans import PLANS, estimate_question, estimate_run, overage_price
from services.billing.queries import ledger_page, summary
from services.billing.translate import translate
from tests.support.credits import (
    answered,
    asked,
    billing_at,
    completed,
    question_failed,
    question_usage,
    request,
    run_to_completion,
)


@pytest.fixture
def app() -> Billing:
    """Billing on 5 May 2026, its clock standing still."""
    return billing_at(datetime(2026, 5, 5, tzinfo=UTC))[0]


def test_a_question_holds_its_estimate_and_is_charged_its_usage(app: Billing) -> None:
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


def test_a_failed_question_is_refunded_and_an_answer_before_its_question_waits(app: Billing) -> None:
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


def test_a_question_the_balance_cannot_cover_is_denied_and_charged_nothing(app: Billing) -> None:
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
    assert denials[0].payload.reason == "needs 20 credits, 7 available"
    assert denials[0].payload.about_run_id == spend.run_id
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


def test_question_credits_are_published_without_a_run_and_name_the_question(app: Billing) -> None:
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
    assert all(e.run_id is None and e.payload.about_run_id == run.run_id for e in mine)
    assert [e.payload.amount for e in mine] == [estimate_question(), 1, estimate_question() - 1]
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
