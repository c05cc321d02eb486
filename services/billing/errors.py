"""Billing's errors: one base, each carrying the status a request answers with. On the bus a
`BillingError` dead-letters the message (`handlers`); in a reply it becomes `error` and `status`
(`replies`)."""

from __future__ import annotations

from quarry_runtime.errors import QuarryError


class BillingError(QuarryError):
    """A request or event that billing refuses; `status` is what the gateway answers."""

    status: int = 422

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class LedgerError(BillingError):
    """A ledger command refused by the ledger's rules."""


class PaymentError(BillingError):
    """Stripe refused or could not be reached."""


class BadSignature(BillingError):
    """A webhook whose signature does not verify (or is too old): answered 400, applied never."""

    status = 400
