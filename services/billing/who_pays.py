"""Who pays for a run, by how it ended: the table billing settles every terminal run by.

A run is charged its metered usage whatever its end, except a failure that is the platform's
fault, which is refunded in full. Approval comes after the paid steps, so a run rejected at
approval, or whose approval expired, was researched all the same and its draft was seen by
those who could approve it: charged. The charge is what was metered, not capped at the
reservation; past it the balance goes down to the plan's overage floor (`Ledger.settle`).
"""

from __future__ import annotations

from typing import Final, Literal

Settlement = Literal["charge", "refund"]

# (terminal state, whose fault) -> what billing does. `None`: the state has no fault to tell.
WHO_PAYS: Final[dict[tuple[str, str | None], Settlement]] = {
    ("completed", None): "charge",
    ("rejected", None): "charge",  # approval refused, or a guardrail at admission (nothing metered yet)
    ("expired", None): "charge",  # no approval before the deadline
    ("cancelled", None): "charge",  # by the user, at a step boundary
    ("failed", "tenant"): "charge",  # its own model endpoint, a tool its policy denied, nothing found
    ("failed", "platform"): "refund",  # a service error, retries exhausted, the platform's own model down
}


def settlement(state: str, fault: str | None = None) -> Settlement:
    """What a run that ended in `state` pays; an end the table does not know is refunded."""
    return WHO_PAYS.get((state, fault if state == "failed" else None), "refund")
