"""How much of its budget each tenant has left, projected from billing's credit events.

Billing owns the ledger; the policy service only reads the balance each credit event carries.
The tenant's budget is the balance right after its last grant (a top-up or the monthly
credits): the remaining share is the current balance over that mark. A balance that later
rises above the mark (a refund) raises the mark, so the share never exceeds 100%.

Billing's newer events carry the period's budget itself (`period_budget`: what the period started
with plus grants and purchases since); when present it is the mark, so the share here is
exactly the one billing's budget tiers use (over 90% used = under 10% left: essential tools only).

A tenant the book has never heard of counts as 100%: billing already refuses runs it cannot
pay for, and this check exists to keep the last credits for the tools a run cannot do without.
"""

from __future__ import annotations

import threading
from typing import Final

from contracts.credits import (
    CreditsAdjusted,
    CreditsDenied,
    CreditsExpired,
    CreditsGranted,
    CreditsPurchased,
    CreditsRefunded,
    CreditsReserved,
    CreditsSettled,
)
from services.policy.store import Budget, PolicyStore

CreditEvent = (
    CreditsGranted
    | CreditsReserved
    | CreditsSettled
    | CreditsRefunded
    | CreditsDenied
    | CreditsPurchased
    | CreditsAdjusted
    | CreditsExpired
)
UNKNOWN_PCT: Final = 100


class BudgetBook:
    def __init__(self, store: PolicyStore | None = None) -> None:
        self._store = store
        self._budgets: dict[str, Budget] = store.budgets() if store is not None else {}
        # `apply` runs in worker threads (the store is PostgreSQL), several events of one fetched
        # batch at once: its read, compare and write are one step, or an older event stored last
        # would win.
        self._applying = threading.Lock()

    @property
    def store(self) -> PolicyStore | None:
        return self._store

    def remaining_pct(self, tenant_id: str) -> int:
        budget = self._budgets.get(tenant_id)
        if budget is None or budget.allotment <= 0:
            return UNKNOWN_PCT
        return max(0, min(100, budget.balance * 100 // budget.allotment))

    def apply(self, ev: CreditEvent) -> None:
        """Idempotent and order-tolerant: an event older than the last one applied changes nothing."""
        with self._applying:
            self._apply(ev)

    def _apply(self, ev: CreditEvent) -> None:
        as_of = f"{ev.occurred_at.isoformat()}|{ev.event_id}"
        current = self._budgets.get(ev.tenant_id)
        if current is not None and as_of <= current.as_of:
            return
        balance = ev.payload.balance
        period_budget = getattr(ev.payload, "period_budget", None)
        if period_budget is not None:
            allotment = period_budget
        elif isinstance(ev, CreditsGranted):  # a grant sets the mark; anything else can only raise it
            allotment = balance
        else:
            allotment = max(balance, current.allotment if current else 0)
        budget = Budget(balance, allotment, as_of)
        # Stored first: were memory ahead of the store, a redelivery after a failed write would
        # find the event applied, be acknowledged, and the budget would be lost on a restart.
        if self._store is not None:
            self._store.save_budget(ev.tenant_id, budget)
        self._budgets[ev.tenant_id] = budget
