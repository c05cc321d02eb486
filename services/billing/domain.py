"""The Ledger aggregate: one per tenant, every credit movement a stored event. Pure: no I/O.

Invariants: the available balance never goes below zero; for every run,
reserved = settled + refunded once the run is closed; every bus event is applied once
(its id is recorded in the same stored event as its effect).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from eventsourcing.domain import Aggregate, event

LEDGER_NAMESPACE = uuid.UUID("6f1c6c5e-8f7b-4a43-9d0e-3f0a3c2a7b11")


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
        self.reservations: dict[str, Reservation] = {}
        self.metered: dict[str, int] = {}  # usage event id -> credits, tenant-wide
        self.bus_events: set[str] = set()

    @property
    def reserved(self) -> int:
        return sum(r.amount - r.settled - r.refunded for r in self.reservations.values() if not r.closed)

    def has_seen(self, bus_event_id: str) -> bool:
        return bus_event_id in self.bus_events

    @event("Granted")
    def grant(self, amount: int, reason: str) -> None:
        if amount <= 0:
            raise LedgerError("a grant must be positive")
        self.balance += amount
        self.granted += amount

    def reserve(self, run_id: str, amount: int, cause: str) -> bool:
        """Hold `amount` for the run; False (and a Denied event) when the balance is short."""
        if run_id in self.reservations:
            raise LedgerError(f"run {run_id} already has a reservation")
        if amount > self.balance:
            self._denied(run_id=run_id, required=amount, balance=self.balance, cause=cause)
            return False
        self._reserved(run_id=run_id, amount=amount, cause=cause)
        return True

    @event("Reserved")
    def _reserved(self, run_id: str, amount: int, cause: str) -> None:
        self.balance -= amount
        self.reservations[run_id] = Reservation(run_id, amount)
        self.bus_events.add(cause)

    @event("Denied")
    def _denied(self, run_id: str, required: int, balance: int, cause: str) -> None:
        self.bus_events.add(cause)

    @event("Metered")
    def meter(self, run_id: str | None, usage_event_id: str, credits: int, cause: str) -> None:
        self.metered[usage_event_id] = credits
        if run_id in self.reservations:
            self.reservations[run_id].usage[usage_event_id] = credits
        self.bus_events.add(cause)

    def missing_usage(self, usage_event_ids: list[str]) -> list[str]:
        return [u for u in usage_event_ids if u not in self.metered]

    def settle(self, run_id: str, usage_event_ids: list[str], cause: str) -> tuple[int, int]:
        """Charge the run's metered usage (capped at its reservation) and release the rest."""
        res = self._open_reservation(run_id)
        used = sum(self.metered[u] for u in usage_event_ids)
        charge = min(used, res.amount)
        self._settled(run_id=run_id, amount=charge, usage_event_ids=list(usage_event_ids), cause=cause)
        refund = res.amount - charge
        self._refunded(run_id=run_id, amount=refund, reason="unused reservation", cause=cause)
        return charge, refund

    def refund(self, run_id: str, reason: str, cause: str) -> int:
        """Release the whole reservation of a run that failed: failed work is not charged."""
        res = self._open_reservation(run_id)
        self._refunded(run_id=run_id, amount=res.amount, reason=reason, cause=cause)
        return res.amount

    @event("Settled")
    def _settled(self, run_id: str, amount: int, usage_event_ids: list[str], cause: str) -> None:
        self.reservations[run_id].settled = amount
        self.bus_events.add(cause)

    @event("Refunded")
    def _refunded(self, run_id: str, amount: int, reason: str, cause: str) -> None:
        res = self.reservations[run_id]
        res.refunded = amount
        res.closed = True
        self.balance += amount
        self.bus_events.add(cause)

    def _open_reservation(self, run_id: str) -> Reservation:
        res = self.reservations.get(run_id)
        if res is None:
            raise LedgerError(f"run {run_id} has no reservation")
        if res.closed:
            raise LedgerError(f"run {run_id} is already settled")
        return res
