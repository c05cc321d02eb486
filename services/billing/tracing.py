"""A span per ledger entry (reserved, denied, metered, settled, refunded), when spans are recorded:
what a trace of a run shows billing did, and for how many credits."""

from __future__ import annotations

from quarry_runtime.spans import recording, span


def entry(kind: str, credits: int, reservation_id: str, *, tool: str | None = None) -> None:
    """Record one entry as a span of its own (the ledger's change is in memory: it takes no time
    worth measuring; what the span says is the entry, under the consumer span of its cause)."""
    if not recording():
        return
    attributes: dict[str, str | int] = {
        "quarry.billing.entry": kind,
        "quarry.billing.credits": credits,
        "quarry.billing.reservation.id": reservation_id,
    }
    if tool is not None:
        attributes["quarry.billing.tool"] = tool
    with span(f"billing {kind}", attributes):
        pass
