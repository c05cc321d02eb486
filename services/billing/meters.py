"""Billing's metrics: credits reserved for runs, settled against their usage, and refunded.

Counted from the ledger's stored events as the outbox relay records them published (once per
event, whichever replica relays it), from the contract events they became: the amounts a
tenant's bill shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts.credits import CreditsRefunded, CreditsReserved, CreditsSettled
from quarry_runtime.metrics import counter
from quarry_runtime.outbox import Outgoing

CREDITS = counter("quarry_credits", "Credits moved by the ledger, by entry: reserved, settled, refunded", ("entry",))
ENTRIES: dict[type[Any], str] = {CreditsReserved: "reserved", CreditsSettled: "settled", CreditsRefunded: "refunded"}
_BY_ENTRY = {entry: CREDITS.labels(entry) for entry in ENTRIES.values()}

# The ledger the platform's own usage is metered on (a rollout's shadow tasks): not a tenant's,
# so it is never charged to one; its credits are the platform's cost, counted below.
PLATFORM_LEDGER = "__platform__"
PLATFORM_CREDITS = counter(
    "quarry_platform_credits", "Credits of usage the platform pays for itself (shadow tasks), by task kind", ("kind",)
)


def count_platform_credits(kind: str, credits: int) -> None:
    PLATFORM_CREDITS.labels(kind).inc(credits)


def count_credits(domain_event: Any, out: Sequence[Outgoing]) -> None:
    """Counts the credits each relayed contract event moves (`OutboxRelay(relayed=...)`)."""
    del domain_event  # what it became says it all
    for item in out:
        entry = ENTRIES.get(type(item.event))
        if entry is not None:
            _BY_ENTRY[entry].inc(item.event.payload.amount)
