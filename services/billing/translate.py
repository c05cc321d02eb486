"""Stored Ledger events -> credits.v1.* contract events.

Entries record the balance and budget after them, so only the tenant id is looked up (from the
latest ledger, which the aggregate cache keeps); entries stored before they carried these are
described from the ledger as it was at their version.

A follow-up question's credits are published without a run id (its saga is not a run: the
orchestrator would wait for a run that never comes, the gateway would list one), naming the
question and the run it asks about in the payload; the orchestrator answers the question once
its hold is published, and ends it when it is denied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from contracts.credits import (
    BudgetTierChanged,
    BudgetTierChangedPayload,
    CreditsAdjusted,
    CreditsAdjustedPayload,
    CreditsDenied,
    CreditsDeniedPayload,
    CreditsExpired,
    CreditsExpiredPayload,
    CreditsGranted,
    CreditsGrantedPayload,
    CreditsPurchased,
    CreditsPurchasedPayload,
    CreditsRefunded,
    CreditsRefundedPayload,
    CreditsReserved,
    CreditsReservedPayload,
    CreditsSettled,
    CreditsSettledPayload,
    PlanChanged,
    PlanChangedPayload,
)
from contracts.envelope import Actor, Event
from contracts.ids import stable_id
from quarry_runtime.outbox import Outgoing
from services.billing.domain import Ledger

LedgerAt = Callable[[Any, int | None], Ledger]
AGENT = "quarry-billing"
PUBLISHED = frozenset(
    {
        "Granted",
        "Reserved",
        "Denied",
        "Settled",
        "Refunded",
        "Purchased",
        "Expired",
        "Adjusted",
        "TierChanged",
        "PlanChanged",
    }
)


def translate(domain_event: Any, ledger_at: LedgerAt) -> Sequence[Outgoing]:
    name = type(domain_event).__name__
    if name not in PUBLISHED:
        return []
    e = domain_event
    about_run = getattr(e, "about_run", None)
    question_id = e.run_id if about_run else None
    balance = getattr(e, "balance", None)
    budget = getattr(e, "budget", None)
    if balance is None and name != "Denied":
        then = ledger_at(e.originator_id, e.originator_version)
        balance, budget, plan, tenant_id = then.balance, None, then.plan, then.tenant_id
    else:
        latest = ledger_at(e.originator_id, None)
        plan, tenant_id = getattr(e, "plan", "") or latest.plan, latest.tenant_id
    # What the entries of a run's reservation (reserved, settled, refunded) all report.
    of_run = {"balance": balance, "period_budget": budget, "question_id": question_id, "about_run_id": about_run}
    payload: Any
    cls: type[Event]
    if name == "Granted":
        cls = CreditsGranted
        payload = CreditsGrantedPayload(amount=e.amount, plan=plan, balance=balance, period_budget=budget)
    elif name == "Reserved":
        cls = CreditsReserved
        payload = CreditsReservedPayload(amount=e.amount, plan=plan, **of_run)
    elif name == "Denied":
        cls = CreditsDenied
        reason = getattr(e, "reason", "") or f"needs {e.required} credits, {e.balance} available"
        payload = CreditsDeniedPayload(
            required=e.required, balance=e.balance, reason=reason, question_id=question_id, about_run_id=about_run
        )
    elif name == "Settled":
        cls = CreditsSettled
        payload = CreditsSettledPayload(amount=e.amount, usage_event_ids=e.usage_event_ids, **of_run)
    elif name == "Refunded":
        cls = CreditsRefunded
        payload = CreditsRefundedPayload(amount=e.amount, reason=e.reason, **of_run)
    elif name == "Purchased":
        cls = CreditsPurchased
        payload = CreditsPurchasedPayload(
            amount=e.amount, pack=e.pack, reference=e.reference, balance=balance, period_budget=budget
        )
    elif name == "Expired":
        cls = CreditsExpired
        payload = CreditsExpiredPayload(amount=e.amount, period=e.period, balance=balance)
    elif name == "Adjusted":
        cls = CreditsAdjusted
        payload = CreditsAdjustedPayload(amount=e.amount, reason=e.reason, balance=balance, period_budget=budget)
    elif name == "TierChanged":
        cls = BudgetTierChanged
        payload = BudgetTierChangedPayload(tier=e.tier, previous=e.previous, used_pct=e.used_pct, plan=plan)
    else:
        cls = PlanChanged
        payload = PlanChangedPayload(plan=e.plan, previous=e.previous)
    key = f"{e.originator_id}:{e.originator_version}"
    event = cls.create(
        payload,
        tenant_id=tenant_id,
        run_id=None if about_run else getattr(e, "run_id", None),
        actor=_actor(getattr(e, "actor", AGENT)),
        causation_id=getattr(e, "cause", None) or None,
        event_id=stable_id(key, int(e.timestamp.timestamp() * 1000)),
    )
    return [Outgoing(event, cls.SUBJECT)]


def _actor(actor: str) -> Actor:
    """The entry's actor on the envelope: a user it acted for, or the agent (billing, Stripe)."""
    if actor.startswith("user:"):
        return Actor(user_id=actor.removeprefix("user:"), agent=AGENT)
    return Actor(agent=actor or AGENT)
