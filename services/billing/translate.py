"""Stored Ledger events -> credits.v1.* contract events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from contracts.credits import (
    CreditsDenied,
    CreditsDeniedPayload,
    CreditsGranted,
    CreditsGrantedPayload,
    CreditsRefunded,
    CreditsRefundedPayload,
    CreditsReserved,
    CreditsReservedPayload,
    CreditsSettled,
    CreditsSettledPayload,
)
from contracts.envelope import Actor, Event
from contracts.ids import stable_id
from quarry_runtime.outbox import Outgoing
from services.billing.domain import Ledger

LedgerAt = Callable[[Any, int], Ledger]
AGENT = "quarry-billing"


def translate(domain_event: Any, ledger_at: LedgerAt) -> Sequence[Outgoing]:
    name = type(domain_event).__name__
    if name not in ("Granted", "Reserved", "Denied", "Settled", "Refunded"):
        return []
    ledger = ledger_at(domain_event.originator_id, domain_event.originator_version)
    run_id = getattr(domain_event, "run_id", None)
    cause = getattr(domain_event, "cause", None)
    payload: Any
    cls: type[Event]
    if name == "Granted":
        cls, payload = (
            CreditsGranted,
            CreditsGrantedPayload(amount=domain_event.amount, plan=ledger.plan, balance=ledger.balance),
        )
    elif name == "Reserved":
        cls, payload = (
            CreditsReserved,
            CreditsReservedPayload(amount=domain_event.amount, plan=ledger.plan, balance=ledger.balance),
        )
    elif name == "Denied":
        reason = f"needs {domain_event.required} credits, {domain_event.balance} available"
        cls, payload = (
            CreditsDenied,
            CreditsDeniedPayload(required=domain_event.required, balance=domain_event.balance, reason=reason),
        )
    elif name == "Settled":
        cls, payload = (
            CreditsSettled,
            CreditsSettledPayload(
                amount=domain_event.amount, usage_event_ids=domain_event.usage_event_ids, balance=ledger.balance
            ),
        )
    else:
        cls, payload = (
            CreditsRefunded,
            CreditsRefundedPayload(amount=domain_event.amount, reason=domain_event.reason, balance=ledger.balance),
        )
    key = f"{domain_event.originator_id}:{domain_event.originator_version}"
    event = cls.create(
        payload,
        tenant_id=ledger.tenant_id,
        run_id=run_id,
        actor=Actor(agent=AGENT),
        causation_id=cause,
        event_id=stable_id(key, int(domain_event.timestamp.timestamp() * 1000)),
    )
    return [Outgoing(event, cls.SUBJECT)]
