"""The Ledger aggregate: one per tenant, every credit movement a stored event. Pure: no I/O.

Invariants: the available balance never goes below zero unless the plan allows overage (and
then not below its cap); for every run, settled + refunded = reserved + what its usage ran past
the reservation (down to the plan's floor) once the run is closed;
credited (granted + purchased + adjusted - expired) = balance + held + settled; every bus event
and every Stripe event is applied once (its id is recorded in the same stored event as its
effect, so a redelivery after any duplicate window or crash changes nothing).

Each entry that moves credits records the balance and the period's budget after it, the run
and usage events it came from, the actor and the cause, so the ledger reads without folding.

A follow-up question is charged like a small run: a reservation keyed by the question id (the
saga's correlation id its usage events carry), naming the run it asks about, held when it is
asked, settled against its usage when answered, refunded in full when it fails. A question the
balance cannot cover (down to the plan's overage floor) is denied like a run, and the
orchestrator ends it before any tool runs: the answer waits for the hold. Questions do not count
against the plan's run concurrency, and their tools are essential to the budget tiers (the
policy registry lets them run on a spent budget, as it lets a run publish its report).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from eventsourcing.domain import Aggregate, event

from services.billing.plans import budget_tier, concurrency_limit, plan_named

LEDGER_NAMESPACE = uuid.UUID("6f1c6c5e-8f7b-4a43-9d0e-3f0a3c2a7b11")
SYSTEM = "quarry-billing"


class LedgerError(Exception):
    """A ledger command refused by the ledger's rules."""


@dataclass
class Reservation:
    run_id: str
    amount: int
    settled: int = 0
    refunded: int = 0
    usage: dict[str, int] = field(default_factory=dict)  # usage event id -> credits
    closed: bool = False
    about_run: str | None = None  # set for a follow-up question (run_id is then the question id)


def remaining_pct(balance: int, budget: int) -> int:
    """The share of the period's budget still available, 0-100 (the policy service's formula)."""
    if budget <= 0:
        return 0 if balance <= 0 else 100
    return max(0, min(100, balance * 100 // budget))


class Ledger(Aggregate):
    """A tenant's credits."""

    @staticmethod
    def create_id(tenant_id: str) -> uuid.UUID:
        return uuid.uuid5(LEDGER_NAMESPACE, tenant_id)

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
        self._purchased(
            pack=pack,
            amount=credits,
            reference=reference,
            balance=self.balance + credits,
            budget=self.period_budget + credits,
            actor=actor,
            cause=cause,
        )
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
        self._adjusted(
            amount=applied,
            reason=reason,
            balance=self.balance + applied,
            budget=self.period_budget + applied,
            actor=actor,
            cause=cause,
            charge_id=charge_id,
            charge_credits=-amount if charge_id else 0,
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

    def reserve(self, run_id: str, amount: int, cause: str, actor: str = SYSTEM, about_run: str | None = None) -> bool:
        """Hold `amount` for the run, or with `about_run` for a follow-up question on that run
        (`run_id` is then the question's id; a question takes no run slot). False (and a Denied
        event) when the balance (down to the plan's overage floor) is short or, for a run, the
        plan's concurrency, lower while throttled, is used."""
        if run_id in self.reservations or (about_run is not None and run_id in self.denied_runs):
            raise LedgerError(f"{'question' if about_run else 'run'} {run_id} already has a reservation")
        limit = concurrency_limit(plan_named(self.plan), self.tier)
        if about_run is None and self.open_runs >= limit:
            reason = f"{self.open_runs} runs already hold credits; the {self.plan} plan allows {limit} at once"
            if self.tier != "allow":
                reason += f" while {self.used_pct}% of the budget is used"
            self._denied(run_id=run_id, required=amount, balance=self.balance, reason=reason, cause=cause)
            return False
        if self.balance - amount < self.floor():
            reason = f"needs {amount} credits, {self.balance - self.floor()} available"
            self._denied(
                run_id=run_id, required=amount, balance=self.balance, reason=reason, cause=cause, about_run=about_run
            )
            return False
        self._reserved(
            run_id=run_id,
            amount=amount,
            plan=self.plan,
            balance=self.balance - amount,
            budget=self.period_budget,
            actor=actor,
            cause=cause,
            about_run=about_run,
        )
        self._follow_tier(None if about_run else run_id, cause)
        return True

    @event("Reserved")
    def _reserved(
        self,
        run_id: str,
        amount: int,
        cause: str,
        plan: str = "",
        balance: int | None = None,
        budget: int | None = None,
        actor: str = SYSTEM,
        about_run: str | None = None,
    ) -> None:
        self.balance -= amount
        self.reservations[run_id] = Reservation(run_id, amount, about_run=about_run)
        self.bus_events.add(cause)

    def refuse(self, run_id: str, required: int, reason: str, cause: str) -> None:
        """Deny a run the plan does not allow (its depth, sources or web access): a Denied event."""
        if run_id in self.reservations or run_id in self.denied_runs:
            raise LedgerError(f"run {run_id} already has a reservation")
        self._denied(run_id=run_id, required=required, balance=self.balance, reason=reason, cause=cause)

    def reserve_question(self, question_id: str, about_run: str, amount: int, cause: str, actor: str = SYSTEM) -> bool:
        """`reserve` for a follow-up question on `about_run`."""
        return self.reserve(question_id, amount, cause, actor, about_run=about_run)

    @event("Denied")
    def _denied(
        self, run_id: str, required: int, balance: int, cause: str, reason: str = "", about_run: str | None = None
    ) -> None:
        self.denied_runs.add(run_id)
        self.bus_events.add(cause)

    def meter(self, run_id: str | None, usage_event_id: str, credits: int, cause: str, tool: str = "") -> None:
        if usage_event_id in self.metered:
            raise LedgerError(f"usage event {usage_event_id} is already metered")
        self._metered(run_id=run_id, usage_event_id=usage_event_id, credits=credits, tool=tool, cause=cause)

    @event("Metered")
    def _metered(self, run_id: str | None, usage_event_id: str, credits: int, cause: str, tool: str = "") -> None:
        self.metered[usage_event_id] = credits
        self.metered_tools[usage_event_id] = tool
        if run_id in self.reservations:
            self.reservations[run_id].usage[usage_event_id] = credits
        self.bus_events.add(cause)

    def settle(self, run_id: str, usage_event_ids: list[str], cause: str, actor: str = SYSTEM) -> tuple[int, int]:
        """Charge the run's metered usage and release the rest of its reservation. Usage past the
        reservation is charged too, from the balance down to the plan's floor (the overage cap,
        or zero on a plan without overage): the estimate is a hold, not a price ceiling."""
        res = self._open_reservation(run_id)
        used = sum(self.metered[u] for u in usage_event_ids)
        charge = min(used, res.amount + max(0, self.balance - self.floor()))
        by_tool: dict[str, int] = {}
        for u in usage_event_ids:
            tool = self.metered_tools.get(u) or "other"
            by_tool[tool] = by_tool.get(tool, 0) + self.metered[u]
        if used > charge:  # capped: scale each tool's share down so the parts add up to the charge
            by_tool = _apportion(by_tool, charge)
        self._settled(
            run_id=run_id,
            amount=charge,
            usage_event_ids=list(usage_event_ids),
            by_tool=by_tool,
            balance=self.balance - max(0, charge - res.amount),
            budget=self.period_budget,
            actor=actor,
            cause=cause,
            about_run=res.about_run,
        )
        refund = max(0, res.amount - charge)
        self._refunded(
            run_id=run_id,
            amount=refund,
            reason="unused reservation",
            balance=self.balance + refund,
            budget=self.period_budget,
            actor=actor,
            cause=cause,
            about_run=res.about_run,
        )
        self._follow_tier(None if res.about_run else run_id, cause)
        return charge, refund

    def refund(self, run_id: str, reason: str, cause: str, actor: str = SYSTEM) -> int:
        """Release the whole reservation of a run that failed: failed work is not charged."""
        res = self._open_reservation(run_id)
        self._refunded(
            run_id=run_id,
            amount=res.amount,
            reason=reason,
            balance=self.balance + res.amount,
            budget=self.period_budget,
            actor=actor,
            cause=cause,
            about_run=res.about_run,
        )
        self._follow_tier(None if res.about_run else run_id, cause)
        return res.amount

    @event("Settled")
    def _settled(
        self,
        run_id: str,
        amount: int,
        usage_event_ids: list[str],
        cause: str,
        by_tool: dict[str, int] | None = None,
        balance: int | None = None,
        budget: int | None = None,
        actor: str = SYSTEM,
        about_run: str | None = None,
    ) -> None:
        res = self.reservations[run_id]
        res.settled = amount
        self.balance -= max(0, amount - res.amount)  # usage past the hold comes from the balance
        self.period_settled += amount
        run = about_run or run_id  # a question's charge counts toward the run it asks about
        self.used_by_run[run] = self.used_by_run.get(run, 0) + amount
        for tool, credits in (by_tool or {"other": amount}).items():
            self.used_by_tool[tool] = self.used_by_tool.get(tool, 0) + credits
        self.bus_events.add(cause)

    @event("Refunded")
    def _refunded(
        self,
        run_id: str,
        amount: int,
        reason: str,
        cause: str,
        balance: int | None = None,
        budget: int | None = None,
        actor: str = SYSTEM,
        about_run: str | None = None,
    ) -> None:
        res = self.reservations[run_id]
        res.refunded = amount
        res.closed = True
        self.balance += amount
        self.bus_events.add(cause)

    def _open_reservation(self, run_id: str) -> Reservation:
        res = self.reservations.get(run_id)
        if res is None:
            raise LedgerError(f"run or question {run_id} has no reservation")
        if res.closed:
            raise LedgerError(f"run or question {run_id} is already settled")
        return res

    # -- budget tier --------------------------------------------------------------------------

    def _follow_tier(self, run_id: str | None, cause: str) -> None:
        tier = budget_tier(self.used_pct)
        if tier != self.tier:
            self._tier_changed(tier=tier, previous=self.tier, used_pct=self.used_pct, run_id=run_id, cause=cause)

    @event("TierChanged")
    def _tier_changed(self, tier: str, previous: str, used_pct: int, run_id: str | None, cause: str) -> None:
        self.tier = tier


def _apportion(parts: dict[str, int], total: int) -> dict[str, int]:
    """Scale `parts` to sum to `total` (largest remainders), keeping every key."""
    whole = sum(parts.values())
    if whole <= 0:
        return dict.fromkeys(parts, 0)
    shares = {k: v * total // whole for k, v in parts.items()}
    rest = total - sum(shares.values())
    for k in sorted(parts, key=lambda k: (parts[k] * total) % whole, reverse=True)[:rest]:
        shares[k] += 1
    return shares
