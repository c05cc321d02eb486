"""The Ledger aggregate: one per tenant, every credit movement a stored event. Pure: no I/O.

Invariants: the available balance never goes below zero unless the plan allows overage (and
then not below its cap); for every run, settled + refunded = reserved + what its usage ran past
the reservation (down to the plan's floor) once the run is closed;
credited (granted + purchased + adjusted - expired) = balance + held + settled; every bus event
and every Stripe event is applied once (its id is recorded in the same stored event as its
effect, so a redelivery after any duplicate window or crash changes nothing).

Each entry that moves credits records the balance and the period's budget after it, the run
and usage events it came from, the actor and the cause, so the ledger reads without folding.
Metering moves no credits (a run's usage is charged when it settles) and is stored compactly:
the usage events one group commit meters into a ledger share one `UsageMetered` event, which
lists each of them with its run, credits, tool and cause. Ledgers stored before it hold one
`Metered` event per usage event; they replay as they did.

The run saga's commands and events are written in `ledger_runs` and gathered here.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import TypedDict

from eventsourcing.domain import Aggregate, event

from services.billing import ledger_runs
from services.billing.errors import LedgerError
from services.billing.ledger_runs import SYSTEM, Reservation
from services.billing.plans import budget_tier, plan_named

__all__ = ["LEDGER_NAMESPACE", "SYSTEM", "Ledger", "LedgerError", "Reservation", "remaining_pct"]


class Entry(TypedDict):
    """What an entry that moves credits records: the balance and budget after it, who and why."""

    balance: int
    budget: int
    actor: str
    cause: str


LEDGER_NAMESPACE = uuid.UUID("6f1c6c5e-8f7b-4a43-9d0e-3f0a3c2a7b11")


@lru_cache(maxsize=4096)
def _ledger_id(tenant_id: str) -> uuid.UUID:
    # Every handled event looks its tenant's ledger up by id; a name-based UUID is a SHA-1.
    return uuid.uuid5(LEDGER_NAMESPACE, tenant_id)


def remaining_pct(balance: int, budget: int) -> int:
    """The share of the period's budget still available, 0-100 (the policy service's formula)."""
    if budget <= 0:
        return 0 if balance <= 0 else 100
    return max(0, min(100, balance * 100 // budget))


class Ledger(Aggregate):
    """A tenant's credits."""

    @staticmethod
    def create_id(tenant_id: str) -> uuid.UUID:
        return _ledger_id(tenant_id)

    @event("Opened")
    def __init__(self, tenant_id: str, plan: str) -> None:
        self.tenant_id = tenant_id
        self.plan = plan
        self.balance = 0
        self.granted = 0
        self.purchased = 0
        self.adjusted = 0
        self.expired = 0
        self.reservations: dict[str, Reservation] = {}
        self.metered: dict[str, int] = {}  # usage event id -> credits, tenant-wide
        self.metered_tools: dict[str, str] = {}  # usage event id -> tool
        self.bus_events: set[str] = set()
        self.denied_runs: set[str] = set()
        self.period = ""
        self.period_budget = 0
        self.period_included = 0
        self.period_settled = 0
        self.used_by_tool: dict[str, int] = {}
        self.used_by_run: dict[str, int] = {}
        self.tier = "allow"
        self.customer_id: str | None = None
        self.subscription_id: str | None = None
        self.plan_as_of = 0  # Stripe time of the last plan change applied: older ones are stale
        self.taken_back: dict[str, int] = {}  # charge id -> credits taken back for its refunds

    # -- reading ------------------------------------------------------------------------------

    @property
    def reserved(self) -> int:
        """Credits held by open reservations."""
        return sum(r.amount - r.settled - r.refunded for r in self.reservations.values() if not r.closed)

    @property
    def credited(self) -> int:
        return self.granted + self.purchased + self.adjusted - self.expired

    @property
    def settled(self) -> int:
        return sum(r.settled for r in self.reservations.values())

    @property
    def open_runs(self) -> int:
        """Runs holding credits (follow-up questions are not runs: they take no run slot)."""
        return sum(1 for r in self.reservations.values() if not r.closed and r.about_run is None)

    @property
    def used_pct(self) -> int:
        """Share of the period's budget used (held credits count as used)."""
        return 100 - remaining_pct(self.balance, self.period_budget)

    @property
    def overage(self) -> int:
        """Credits settled this period beyond its budget (billed at the overage rates)."""
        return max(0, self.period_settled - self.period_budget)

    def has_seen(self, event_id: str) -> bool:
        return event_id in self.bus_events

    def missing_usage(self, usage_event_ids: list[str]) -> list[str]:
        return [u for u in usage_event_ids if u not in self.metered]

    def _entry(self, amount: int, actor: str, cause: str) -> Entry:
        """What an entry adding `amount` to the balance and the period's budget records besides it."""
        return {"balance": self.balance + amount, "budget": self.period_budget + amount, "actor": actor, "cause": cause}

    def floor(self) -> int:
        """The lowest balance the plan allows."""
        plan = plan_named(self.plan)
        return -plan.overage_cap if plan.overage else 0

    # -- periods and grants -------------------------------------------------------------------

    def start_period(self, period: str, cause: str, actor: str = SYSTEM) -> bool:
        """Open a billing period: the last period's unused plan credits expire, its overage is
        billed (the balance returns to zero), and the plan's monthly credits are granted."""
        if period <= self.period:
            return False
        if not self.period and self.granted:
            # A ledger from before periods were kept: its credits so far count as this period's.
            self._period_adopted(period=period, budget=self.balance + self.reserved + self.settled)
            return False
        if self.period:
            left = max(0, min(self.balance, self.period_included - self.period_settled))
            if left:
                self._expired(amount=left, period=self.period, balance=self.balance - left, actor=actor, cause=cause)
            if self.balance < 0:
                self._adjusted(
                    amount=-self.balance,
                    reason=f"overage of {self.period} billed",
                    balance=0,
                    budget=self.period_budget,
                    actor=actor,
                    cause=cause,
                    budgeted=False,
                )
        plan = plan_named(self.plan)
        self.grant(plan.monthly_credits, f"{plan.name} plan credits for {period}", cause, actor, period=period)
        return True

    def grant(
        self, amount: int, reason: str, cause: str = "", actor: str = SYSTEM, period: str = "", included: bool = True
    ) -> None:
        if amount <= 0:
            raise LedgerError("a grant must be positive")
        new_period = bool(period) and period != self.period
        budget = (self.balance if new_period else self.period_budget) + amount
        self._granted(
            amount=amount,
            reason=reason,
            plan=self.plan,
            period=period,
            included=included,
            balance=self.balance + amount,
            budget=budget,
            actor=actor,
            cause=cause,
        )
        self._follow_tier(None, cause)

    @event("Granted")
    def _granted(
        self,
        amount: int,
        reason: str,
        plan: str = "",
        period: str = "",
        included: bool = True,
        balance: int | None = None,
        budget: int | None = None,
        actor: str = SYSTEM,
        cause: str = "",
    ) -> None:
        if period and period != self.period:
            self.period = period
            self.period_budget = self.balance
            self.period_included = 0
            self.period_settled = 0
            self.used_by_tool = {}
            self.used_by_run = {}
        self.balance += amount
        self.granted += amount
        self.period_budget += amount
        if included:
            self.period_included += amount
        if cause:
            self.bus_events.add(cause)

    @event("PeriodAdopted")
    def _period_adopted(self, period: str, budget: int) -> None:
        self.period = period
        self.period_budget = budget
        self.period_included = self.granted

    @event("Expired")
    def _expired(self, amount: int, period: str, balance: int, actor: str, cause: str) -> None:
        self.balance -= amount
        self.expired += amount

    def purchase(self, pack: str, credits: int, reference: str, cause: str, actor: str) -> None:
        """Credits bought once (a pack): they add to this period's budget and never expire."""
        if credits <= 0:
            raise LedgerError("a purchase must add credits")
        self._purchased(pack=pack, amount=credits, reference=reference, **self._entry(credits, actor, cause))
        self._follow_tier(None, cause)

    @event("Purchased")
    def _purchased(
        self, pack: str, amount: int, reference: str, balance: int, budget: int, actor: str, cause: str
    ) -> None:
        self.balance += amount
        self.purchased += amount
        self.period_budget += amount
        self.bus_events.add(cause)

    def adjust(self, amount: int, reason: str, cause: str, actor: str, charge_id: str = "") -> int:
        """A correction; never below the plan's floor. Returns the amount applied."""
        applied = max(amount, self.floor() - self.balance)
        taken = -amount if charge_id else 0
        self._adjusted(
            amount=applied,
            reason=reason,
            charge_id=charge_id,
            charge_credits=taken,
            **self._entry(applied, actor, cause),
        )
        self._follow_tier(None, cause)
        return applied

    def take_back(self, charge_id: str, credits: int, cause: str, actor: str) -> int:
        """A refunded payment takes its credits back (what is left of them, down to the floor)."""
        return self.adjust(-credits, f"payment {charge_id} refunded", cause, actor, charge_id=charge_id)

    @event("Adjusted")
    def _adjusted(
        self,
        amount: int,
        reason: str,
        balance: int,
        budget: int,
        actor: str,
        cause: str,
        budgeted: bool = True,
        charge_id: str = "",
        charge_credits: int = 0,
    ) -> None:
        self.balance += amount
        self.adjusted += amount
        if budgeted:  # billing a past period's overage is not new budget for this one
            self.period_budget += amount
        if charge_id:
            self.taken_back[charge_id] = self.taken_back.get(charge_id, 0) + charge_credits
        if cause:
            self.bus_events.add(cause)

    # -- plan and Stripe customer ------------------------------------------------------------

    def change_plan(self, plan: str, cause: str, actor: str, as_of: int = 0) -> None:
        """Switch plans now; an upgrade grants the difference of monthly credits for this period.
        A change older (`as_of`, Stripe's event time) than the last one applied is stale."""
        new, old = plan_named(plan), plan_named(self.plan)
        if as_of and as_of < self.plan_as_of:
            return
        if new.name == self.plan:
            if as_of > self.plan_as_of:  # nothing changes, but an older change must not apply later
                self._plan_confirmed(as_of=as_of, cause=cause)
            return
        self._plan_changed(plan=new.name, previous=old.name, actor=actor, cause=cause, as_of=as_of)
        extra = new.monthly_credits - old.monthly_credits
        if extra > 0 and self.period:
            self.grant(extra, f"upgrade to {new.name} for {self.period}", cause, actor)

    @event("PlanChanged")
    def _plan_changed(self, plan: str, previous: str, actor: str, cause: str, as_of: int = 0) -> None:
        self.plan = plan
        self.plan_as_of = max(self.plan_as_of, as_of)
        self.bus_events.add(cause)

    def link_customer(self, customer_id: str, subscription_id: str | None, cause: str) -> None:
        if customer_id == self.customer_id and subscription_id == self.subscription_id:
            return
        self._customer_linked(customer_id=customer_id, subscription_id=subscription_id, cause=cause)

    @event("PlanConfirmed")
    def _plan_confirmed(self, as_of: int, cause: str) -> None:
        self.plan_as_of = as_of
        self.bus_events.add(cause)

    @event("CustomerLinked")
    def _customer_linked(self, customer_id: str, subscription_id: str | None, cause: str) -> None:
        self.customer_id = customer_id
        self.subscription_id = subscription_id
        self.bus_events.add(cause)

    # -- runs ---------------------------------------------------------------------------------
    # Gathered from `ledger_runs`, where they are written (the events keep the topics `Ledger.<Name>`).
    reserve = ledger_runs.reserve
    _reserved = ledger_runs._reserved
    refuse = ledger_runs.refuse
    reserve_question = ledger_runs.reserve_question
    _denied = ledger_runs._denied
    meter = ledger_runs.meter
    _metered = ledger_runs._metered
    _usage_metered = ledger_runs._usage_metered
    settle = ledger_runs.settle
    refund = ledger_runs.refund
    _settled = ledger_runs._settled
    _refunded = ledger_runs._refunded
    _open_reservation = ledger_runs._open_reservation

    # -- budget tier --------------------------------------------------------------------------

    def _follow_tier(self, run_id: str | None, cause: str) -> None:
        tier = budget_tier(self.used_pct)
        if tier != self.tier:
            self._tier_changed(tier=tier, previous=self.tier, used_pct=self.used_pct, run_id=run_id, cause=cause)

    @event("TierChanged")
    def _tier_changed(self, tier: str, previous: str, used_pct: int, run_id: str | None, cause: str) -> None:
        self.tier = tier
