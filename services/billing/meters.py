"""Billing's metrics: credits reserved for runs, settled against their usage, and refunded.

Observed as the outbox relay publishes the ledger's stored events (once per stored event in a
relay's life), from the contract events they become: the amounts a tenant's bill shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from contracts.credits import CreditsRefunded, CreditsReserved, CreditsSettled
from quarry_runtime.metrics import counter
from quarry_runtime.outbox import Outgoing

CREDITS = counter("quarry_credits", "Credits moved by the ledger, by entry: reserved, settled, refunded", ("entry",))
ENTRIES: dict[type[Any], str] = {CreditsReserved: "reserved", CreditsSettled: "settled", CreditsRefunded: "refunded"}
_BY_ENTRY = {entry: CREDITS.labels(entry) for entry in ENTRIES.values()}

Translate = Callable[[Any], Sequence[Outgoing]]


def observing(translate: Translate) -> Translate:
    """`translate`, counting the credits each contract event it gives moves."""

    def observed(domain_event: Any) -> Sequence[Outgoing]:
        out = translate(domain_event)
        for item in out:
            entry = ENTRIES.get(type(item.event))
            if entry is not None:
                _BY_ENTRY[entry].inc(item.event.payload.amount)
        return out

    return observed
