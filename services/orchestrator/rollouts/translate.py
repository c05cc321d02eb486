"""Stored Rollout events -> contract events, and the durable timer of the next look.

Every look is stored (a decision, or `Looked`), and the event that records it sets the timer of
the next one, due `look_every_s` later, with an id made from the rollout and the look's number:
publishing the stored event again sets the same timer, not a second one. A rollout that ends
(rolled back, aborted, at 100%) sets none. Recorded outcomes (`RunObserved`, `ShadowObserved`) publish nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from contracts.ids import derived_id
from contracts.rollouts import (
    Aborted,
    Evidence,
    Held,
    HeldPayload,
    Paused,
    Resumed,
    RolledBack,
    RolledBackPayload,
    RolloutNotePayload,
    RolloutSpec,
    RolloutStarted,
    RolloutStartedPayload,
    StageAdvanced,
    StageAdvancedPayload,
    TenantsRerandomised,
    TenantsRerandomisedPayload,
)
from contracts.timer import TimerFiredPayload
from quarry_runtime.outbox import Outgoing
from services.orchestrator.emitter import Emitter
from services.orchestrator.rollouts.domain import LOOKING, Rollout

RolloutAt = Callable[[Any, int], Rollout]
NOTES = {"Paused": Paused, "Resumed": Resumed, "Aborted": Aborted}
# The events after which the rollout looks again (when still under way).
LOOKS = frozenset({"Started", "Looked", "Held", "StageAdvanced"})


def look_timer_id(rollout_id: str, look: int) -> str:
    return derived_id(rollout_id, f"timer:rollout_look:{look}")


def translate_rollout(domain_event: Any, rollout_at: RolloutAt) -> Sequence[Outgoing]:
    """What one stored Rollout event publishes (the rollout as it was after it decides the rest)."""
    name = type(domain_event).__name__
    if name in ("RunObserved", "ShadowObserved", "CostSettled"):
        return ()  # records a run's share of the evidence: nothing to publish, and no rollout to read
    r = rollout_at(domain_event.originator_id, domain_event.originator_version)
    # An operator's command names them; a look the timer made names whoever started the rollout.
    tenant_id = getattr(domain_event, "tenant_id", "") or r.tenant_id
    user_id = getattr(domain_event, "user_id", None) if getattr(domain_event, "tenant_id", "") else r.user_id
    e = Emitter(domain_event, tenant_id=tenant_id, user_id=user_id, roles=[])
    evidence = getattr(domain_event, "evidence", None)
    if name == "Started":
        spec = RolloutSpec.model_validate(r.spec)
        e.emit(
            RolloutStarted,
            RolloutStartedPayload(rollout_id=r.rollout_id, spec=spec, stable=r.stable, salt=r.salt, percent=r.percent),
        )
    elif name in ("StageAdvanced", "RolledBack"):
        # A decision: from which stage, and the numbers behind it.
        decided: dict[str, Any] = {
            "rollout_id": r.rollout_id,
            "from_percent": domain_event.from_percent,
            "evidence": Evidence.model_validate(evidence),
        }
        if name == "StageAdvanced":
            completed = r.status == "completed"
            e.emit(
                StageAdvanced, StageAdvancedPayload(**decided, to_percent=domain_event.to_percent, completed=completed)
            )
        else:
            e.emit(RolledBack, RolledBackPayload(**decided, guards=domain_event.guards))
    elif name == "Held":
        payload_held = HeldPayload(
            rollout_id=r.rollout_id,
            reason=domain_event.reason,
            detail=domain_event.detail[:2000],
            evidence=None if evidence is None else Evidence.model_validate(evidence),
        )
        e.emit(Held, payload_held)
    elif name in NOTES:
        percent = domain_event.from_percent if name == "Aborted" else r.percent
        e.emit(NOTES[name], RolloutNotePayload(rollout_id=r.rollout_id, percent=percent, note=domain_event.note))
    elif name == "TenantsRerandomised":
        e.emit(
            TenantsRerandomised,
            TenantsRerandomisedPayload(
                rollout_id=r.rollout_id,
                previous_salt=domain_event.previous_salt,
                salt=domain_event.salt,
                note=domain_event.note,
            ),
        )
    if name in LOOKS and r.status in LOOKING:
        wake = TimerFiredPayload(
            timer_id=look_timer_id(r.rollout_id, r.looks),
            purpose="rollout_look",
            rollout_id=r.rollout_id,
            attempt=r.looks,
            slot=r.look_due,
        )
        e.timer(r.look_due, wake)
    return e.out
