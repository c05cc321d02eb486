"""The Monitor aggregate: recurring research whose every slot fires exactly once. Pure.

A slot is recorded as fired in the monitor's own log before its run is published (from that
log, by the outbox). Two replicas handling the same due slot race on the aggregate's next
version; the loser's save fails on the version conflict, it reloads, and finds the slot fired.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import event

from services.orchestrator.errors import OrchestratorError
from services.orchestrator.moved import answer_to_old_topics
from services.orchestrator.owned import Owned, id_from


class MonitorError(OrchestratorError):
    """A command the monitor's state refuses."""


class Monitor(Owned):
    # Version 2 of a monitor's snapshotted state has its template; version 1 had none.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A snapshot of a monitor made before templates: it has none."""
        state.setdefault("template", None)

    create_id = id_from("monitor_id")

    @event("MonitorCreated")
    def __init__(
        self,
        monitor_id: str,
        tenant_id: str,
        user_id: str | None,
        roles: list[str],
        question: str,
        depth: int,
        max_sources: int,
        cron: str | None,
        interval_s: int | None,
        anchor: datetime,
        next_slot: datetime,
        cause: str,
        template: dict[str, Any] | None = None,
    ) -> None:
        self.monitor_id = monitor_id
        self._own(tenant_id, user_id, roles, cause)
        self.question = question
        self.depth = depth
        self.max_sources = max_sources
        # The research template as resolved when the monitor was made (contracts.monitor.MonitorTemplate).
        self.template = dict(template) if template else None
        self.cron = cron
        self.interval_s = interval_s
        self.anchor = anchor
        self.next_slot: datetime | None = next_slot
        self.status = "active"
        self.fired: dict[str, str] = {}  # slot (ISO) -> run id
        self.last_run_id: str | None = None

    def has_fired(self, slot: datetime) -> bool:
        return slot.isoformat() in self.fired

    def fire(self, slot: datetime, run_id: str, next_slot: datetime, cause: str) -> None:
        if self.status != "active":
            raise MonitorError(f"monitor {self.monitor_id} is {self.status}")
        if self.has_fired(slot):
            raise MonitorError(f"slot {slot.isoformat()} of monitor {self.monitor_id} has fired already")
        self._slot_fired(slot=slot, run_id=run_id, previous_run_id=self.last_run_id, next_slot=next_slot, cause=cause)

    @event("SlotFired")
    def _slot_fired(
        self, slot: datetime, run_id: str, previous_run_id: str | None, next_slot: datetime, cause: str
    ) -> None:
        self.fired[slot.isoformat()] = run_id
        self.last_run_id = run_id
        self.next_slot = next_slot
        self.bus_events.add(cause)

    def pause(self, cause: str) -> None:
        self._check_status("active")
        self._paused(cause=cause)

    @event("MonitorPaused")
    def _paused(self, cause: str) -> None:
        self._become("paused", None, cause)

    def resume(self, next_slot: datetime, cause: str) -> None:
        self._check_status("paused")
        self._resumed(next_slot=next_slot, cause=cause)

    @event("MonitorResumed")
    def _resumed(self, next_slot: datetime, cause: str) -> None:
        self._become("active", next_slot, cause)

    def delete(self, cause: str) -> None:
        if self.status == "deleted":
            raise MonitorError(f"monitor {self.monitor_id} is deleted already")
        self._deleted(cause=cause)

    @event("MonitorDeleted")
    def _deleted(self, cause: str) -> None:
        self._become("deleted", None, cause)

    def _check_status(self, status: str) -> None:
        if self.status != status:
            raise MonitorError(f"monitor {self.monitor_id} is {self.status}, not {status}")

    def _become(self, status: str, next_slot: datetime | None, cause: str) -> None:
        self.status = status
        self.next_slot = next_slot
        self.bus_events.add(cause)


answer_to_old_topics("services.orchestrator.monitor", Monitor)
