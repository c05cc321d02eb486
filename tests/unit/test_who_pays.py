"""Who pays for a run, one terminal state at a time: its metered usage is charged whatever its
end, except a failure that is the platform's fault, which is refunded in full."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from contracts.envelope import Event
from contracts.ids import new_id
from contracts.run import (
    RunCancelled,
    RunCancelledPayload,
    RunCompleted,
    RunCompletedPayload,
    RunExpired,
    RunExpiredPayload,
    RunFailed,
    RunFailedPayload,
    RunRejected,
    RunRejectedPayload,
    RunRequested,
    RunRequestedPayload,
)
from contracts.usage import UsageRecorded, UsageRecordedPayload
from services.billing.application import Billing
from services.billing.plans import PLANS, estimate_run, usage_credits
from services.billing.who_pays import WHO_PAYS, settlement

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
FREE = PLANS["free"].monthly_credits
SEARCHES = 3  # the usage every run below metered before it ended
CHARGE = SEARCHES * usage_credits(0, 1, 0, "web_search")

End = Callable[[RunRequested, list[str]], Event]


def researched(app: Billing, tenant: str = "t1", searches: int = SEARCHES) -> tuple[RunRequested, list[str]]:
    """A run admitted and metered: the paid steps are done, whatever comes next."""
    req = RunRequested.create(
        RunRequestedPayload(question="what is x?", depth=1, max_sources=5), tenant_id=tenant, run_id=new_id()
    )
    app.admit(req)
    ids = []
    for n in range(searches):
        payload = UsageRecordedPayload(task_id=f"task-{n}", kind="search", tool="web_search", search_calls=1)
        use = UsageRecorded.caused_by(req, payload, name=f"usage:{n}")
        app.meter(use)
        ids.append(use.event_id)
    return req, ids


def completed(req: RunRequested, ids: list[str]) -> Event:
    return RunCompleted.caused_by(req, RunCompletedPayload(usage_event_ids=ids, sources=3))


def rejected_at_approval(req: RunRequested, ids: list[str]) -> Event:
    return RunRejected.caused_by(req, RunRejectedPayload(reason="approval refused by u1", usage_event_ids=ids))


def approval_expired(req: RunRequested, ids: list[str]) -> Event:
    return RunExpired.caused_by(req, RunExpiredPayload(reason="no approval before 12:00", usage_event_ids=ids))


def cancelled(req: RunRequested, ids: list[str]) -> Event:
    return RunCancelled.caused_by(req, RunCancelledPayload(reason="cancelled by the user", usage_event_ids=ids))


def failed_by_the_tenant(req: RunRequested, ids: list[str]) -> Event:
    payload = RunFailedPayload(
        reason="synthesise failed: the tenant's model endpoint refused its API key", usage_event_ids=ids, fault="tenant"
    )
    return RunFailed.caused_by(req, payload)


def failed_by_a_denied_tool(req: RunRequested, ids: list[str]) -> Event:
    payload = RunFailedPayload(reason="search denied by policy: plan", usage_event_ids=ids, fault="tenant")
    return RunFailed.caused_by(req, payload)


def failed_by_the_platform(req: RunRequested, ids: list[str]) -> Event:
    payload = RunFailedPayload(
        reason="synthesise failed: no answer within 300s (after 3 attempts)", usage_event_ids=ids, fault="platform"
    )
    return RunFailed.caused_by(req, payload)


def failed_before_faults_were_told(req: RunRequested, ids: list[str]) -> Event:
    """A run.failed from a producer that does not say whose fault it was: the platform's, as before."""
    body = RunFailed.caused_by(req, RunFailedPayload(reason="failed", usage_event_ids=ids)).model_dump(mode="json")
    del body["payload"]["fault"]
    return RunFailed.model_validate(body)


def close(app: Billing, end: Event) -> None:
    assert isinstance(end, RunCompleted | RunCancelled | RunFailed | RunExpired | RunRejected)
    app.close_run(end)


@pytest.mark.parametrize(
    ("end", "charged"),
    [
        *(
            (end, CHARGE)
            for end in (
                completed,
                rejected_at_approval,
                approval_expired,
                cancelled,
                failed_by_the_tenant,
                failed_by_a_denied_tool,
            )
        ),
        # A failure of the platform is refunded in full.
        *((end, 0) for end in (failed_by_the_platform, failed_before_faults_were_told)),
    ],
)
def test_a_run_is_charged_its_metered_usage_or_nothing_on_this_end(end: End, charged: int) -> None:
    app = Billing(env=POPO)
    req, ids = researched(app)
    close(app, end(req, ids))
    ledger = app.ledger("t1")
    res = ledger.reservations[req.run_id or ""]
    assert res.closed and res.settled == charged and res.refunded == res.amount - charged
    assert ledger.balance == FREE - charged
    assert ledger.used_by_run.get(req.run_id or "", 0) == charged


def test_the_table_names_every_terminal_state() -> None:
    states = {state for state, _ in WHO_PAYS}
    assert states == {"completed", "rejected", "expired", "cancelled", "failed"}
    assert settlement("failed", "tenant") == "charge" and settlement("failed", "platform") == "refund"
    assert settlement("expired", "platform") == "charge"  # only a failure has a fault to tell


def test_usage_past_the_reservation_is_charged_not_capped() -> None:
    app = Billing(env=POPO)
    held = estimate_run(1, 5)
    searches = held  # two credits each: twice the hold
    req, ids = researched(app, searches=searches)
    close(app, completed(req, ids))
    ledger = app.ledger("t1")
    res = ledger.reservations[req.run_id or ""]
    used = searches * usage_credits(0, 1, 0, "web_search")
    assert used > held and res.settled == used and res.refunded == 0
    assert ledger.balance == FREE - used
    assert ledger.credited == ledger.balance + ledger.reserved + ledger.settled


def test_past_the_balance_the_charge_stops_at_the_plans_floor() -> None:
    app = Billing(env=POPO)
    req, ids = researched(app, searches=FREE)  # 2 * FREE credits of usage on a plan without overage
    close(app, rejected_at_approval(req, ids))
    ledger = app.ledger("t1")
    assert ledger.balance == ledger.floor() == 0
    assert ledger.reservations[req.run_id or ""].settled == FREE
