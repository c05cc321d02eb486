"""The run saga's side of the ledger: hold a run's (or a follow-up question's) estimate, meter
its usage, settle or refund it. Written here, gathered as methods on `domain.Ledger`, so its
events are `Ledger.Reserved`, `Ledger.Metered`, ... like the rest.

A follow-up question is charged like a small run: a reservation keyed by the question id (the
saga's correlation id its usage events carry), naming the run it asks about, held when it is
asked, settled against its usage when answered, refunded in full when it fails. A question the
balance cannot cover (down to the plan's overage floor) is denied like a run, and the
orchestrator ends it before any tool runs: the answer waits for the hold. Questions do not count
against the plan's run concurrency, and their tools are essential to the budget tiers (the
policy registry lets them run on a spent budget, as it lets a run publish its report).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from eventsourcing.domain import event

from quarry_runtime.shares import apportion
from services.billing.errors import LedgerError
from services.billing.plans import concurrency_limit, plan_named

if TYPE_CHECKING:
    from services.billing.domain import Ledger

# The actor of the entries the ledger makes by itself.
SYSTEM = "quarry-billing"
# Usage events one stored `UsageMetered` event lists at most.
USAGE_PER_EVENT = 128


class MeteredUsage(TypedDict):
    """One usage event as metered: what a `UsageMetered` event lists for each."""

    run_id: str | None
    usage_event_id: str
    credits: int
    tool: str
    cause: str


@dataclass
class Reservation:
    run_id: str
    amount: int
    settled: int = 0
    refunded: int = 0
    usage: dict[str, int] = field(default_factory=dict)  # usage event id -> credits
    closed: bool = False
    about_run: str | None = None  # set for a follow-up question (run_id is then the question id)


def reserve(
    self: Ledger, run_id: str, amount: int, cause: str, actor: str = SYSTEM, about_run: str | None = None
) -> bool:
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
    self: Ledger,
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


def refuse(self: Ledger, run_id: str, required: int, reason: str, cause: str) -> None:
    """Deny a run the plan does not allow (its depth, sources or web access): a Denied event."""
    if run_id in self.reservations or run_id in self.denied_runs:
        raise LedgerError(f"run {run_id} already has a reservation")
    self._denied(run_id=run_id, required=required, balance=self.balance, reason=reason, cause=cause)


def reserve_question(
    self: Ledger, question_id: str, about_run: str, amount: int, cause: str, actor: str = SYSTEM
) -> bool:
    """`reserve` for a follow-up question on `about_run`."""
    return self.reserve(question_id, amount, cause, actor, about_run=about_run)


@event("Denied")
def _denied(
    self: Ledger, run_id: str, required: int, balance: int, cause: str, reason: str = "", about_run: str | None = None
) -> None:
    self.denied_runs.add(run_id)
    self.bus_events.add(cause)


def meter(self: Ledger, run_id: str | None, usage_event_id: str, credits: int, cause: str, tool: str = "") -> None:
    """Record a usage event's credits. Usage metered while the last uncommitted event is a
    `UsageMetered` (a group commit of many usage events) joins that event: one stored event
    per ledger and commit instead of one per usage event, each usage event still listed once
    with its run, credits, tool and cause."""
    if usage_event_id in self.metered:
        raise LedgerError(f"usage event {usage_event_id} is already metered")
    item: MeteredUsage = {
        "run_id": run_id,
        "usage_event_id": usage_event_id,
        "credits": credits,
        "tool": tool,
        "cause": cause,
    }
    pending = self.pending_events
    last: Any = pending[-1] if pending else None
    if type(last).__name__ == "UsageMetered" and len(last.usage) < USAGE_PER_EVENT:
        # A new event object in the last one's place, not the last one changed: a group commit
        # tells that a unit changed an aggregate by its last pending event being another object.
        pending[-1] = _with_usage(last, [*last.usage, item])
        _meter_one(self, item)
    else:
        self._usage_metered(usage=[item])


def _with_usage(event: Any, usage: list[MeteredUsage]) -> Any:
    """A copy of the pending `UsageMetered` event with `usage` instead of its own. Made as a
    frozen dataclass's own `__init__` sets fields (`dataclasses.replace` re-runs the event's
    `__init__` and its checks, several times the cost, once per metered usage event)."""
    folded = object.__new__(type(event))
    folded.__dict__.update(event.__dict__)
    folded.__dict__["usage"] = usage
    return folded


@event("UsageMetered")
def _usage_metered(self: Ledger, usage: list[MeteredUsage]) -> None:
    for item in usage:
        _meter_one(self, item)


@event("Metered")
def _metered(self: Ledger, run_id: str | None, usage_event_id: str, credits: int, cause: str, tool: str = "") -> None:
    # One usage event per stored event: what ledgers stored before `UsageMetered`.
    _meter_one(
        self, {"run_id": run_id, "usage_event_id": usage_event_id, "credits": credits, "tool": tool, "cause": cause}
    )


def _meter_one(self: Ledger, item: MeteredUsage) -> None:
    usage_event_id, credits = item["usage_event_id"], item["credits"]
    self.metered[usage_event_id] = credits
    self.metered_tools[usage_event_id] = item["tool"]
    run_id = item["run_id"]
    if run_id in self.reservations:
        self.reservations[run_id].usage[usage_event_id] = credits
    self.bus_events.add(item["cause"])


def settle(self: Ledger, run_id: str, usage_event_ids: list[str], cause: str, actor: str = SYSTEM) -> tuple[int, int]:
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
        by_tool = apportion(by_tool, charge)
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


def refund(self: Ledger, run_id: str, reason: str, cause: str, actor: str = SYSTEM) -> int:
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
    self: Ledger,
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
    self: Ledger,
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


def _open_reservation(self: Ledger, run_id: str) -> Reservation:
    res = self.reservations.get(run_id)
    if res is None:
        raise LedgerError(f"run or question {run_id} has no reservation")
    if res.closed:
        raise LedgerError(f"run or question {run_id} is already settled")
    return res
