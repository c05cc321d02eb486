"""Stored Monitor events -> contract events: its schedule, and for a fired slot, its run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from contracts.ids import derived_id
from contracts.monitor import (
    MonitorFired,
    MonitorFiredPayload,
    MonitorScheduled,
    MonitorScheduledPayload,
    MonitorTemplate,
)
from contracts.run import RunRequested, RunRequestedPayload
from contracts.timer import TimerFiredPayload
from quarry_runtime.outbox import Outgoing
from services.orchestrator.emitter import Emitter, copied
from services.orchestrator.monitors.domain import Monitor

MonitorAt = Callable[[Any, int], Monitor]


def _template_request(template: dict[str, Any] | None) -> dict[str, Any]:
    """The run request fields a monitor's template sets (none for a monitor made without one)."""
    if not template:
        return {}
    t = MonitorTemplate.model_validate(template)
    return {
        "sources": t.sources,
        "length": t.length,
        "target_words": t.target_words,
        "template_id": t.template_id,
        "template_version": t.version,
        "template_name": t.name,
        "outline": t.outline,
        "tone": t.tone,
    }


def translate_monitor(domain_event: Any, monitor_at: MonitorAt) -> Sequence[Outgoing]:
    """What one stored Monitor event publishes: its schedule, and for a fired slot, the run."""
    name = type(domain_event).__name__
    m = monitor_at(domain_event.originator_id, domain_event.originator_version)
    e = Emitter(domain_event, tenant_id=m.tenant_id, user_id=m.user_id, roles=m.roles)

    def slot_timer(slot: datetime) -> None:
        tid = derived_id(m.monitor_id, f"timer:monitor_slot:{slot.isoformat()}")
        e.timer(slot, TimerFiredPayload(timer_id=tid, purpose="monitor_slot", monitor_id=m.monitor_id, slot=slot))

    status: Any = m.status
    if name == "SlotFired":
        # The run asks the monitor's question (its fields carry over by name), as its template sets.
        previous_run_id, run_id = domain_event.previous_run_id, domain_event.run_id
        request = copied(RunRequestedPayload, m, previous_run_id=previous_run_id, **_template_request(m.template))
        e.emit(RunRequested, request, run_id=run_id, event_id=derived_id(run_id, "requested"))
        e.emit(MonitorFired, copied(MonitorFiredPayload, domain_event, monitor_id=m.monitor_id), run_id=run_id)
        slot_timer(domain_event.next_slot)
    elif name in ("MonitorCreated", "MonitorResumed", "MonitorPaused", "MonitorDeleted"):
        e.emit(
            MonitorScheduled,
            MonitorScheduledPayload(
                monitor_id=m.monitor_id, status=status, next_slot=m.next_slot, version=domain_event.originator_version
            ),
        )
        if m.next_slot is not None and name in ("MonitorCreated", "MonitorResumed"):
            slot_timer(m.next_slot)
    return e.out
