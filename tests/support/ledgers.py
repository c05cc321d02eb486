"""Billing's ledgers read from its own store after a stack has stopped."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.billing.application import Billing


def balanced_reservations(data_dir: Path, tenants: Iterable[str]) -> int:
    """Asserts each tenant's ledger in billing's store under `data_dir` balances to the credit:
    every reservation closed, settled and refunded to its amount, the balance what was granted
    less what was settled. Returns how many reservations the tenants hold in all."""
    billing = Billing(env=eventstore_env(RuntimeSettings(data_dir=data_dir), "billing"))
    try:
        reserved = 0
        for tenant in tenants:
            ledger = billing.ledger(tenant)
            settled = sum(r.settled for r in ledger.reservations.values())
            assert all(r.closed and r.settled + r.refunded == r.amount for r in ledger.reservations.values())
            assert ledger.balance == ledger.granted - settled, (tenant, ledger.balance, ledger.granted, settled)
            reserved += len(ledger.reservations)
        return reserved
    finally:
        billing.close()
