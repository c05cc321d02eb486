"""The monitor use cases: create, change and fire recurring research, one bus event each."""

from __future__ import annotations

import contextlib
from datetime import datetime

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from contracts.envelope import Event
from contracts.ids import derived_id
from contracts.monitor import MonitorChanged, MonitorCreated
from contracts.timer import TimerFired
from quarry_runtime.errors import NotReady
from quarry_runtime.eventsourced import EventSourcedApplication
from services.orchestrator.asker import asked_by
from services.orchestrator.monitors.domain import Monitor
from services.orchestrator.monitors.schedule import next_slot


def monitor_run_id(monitor_id: str, slot: datetime) -> str:
    """The run of one slot: the same id however often, and on whichever replica, the slot fires."""
    return derived_id(monitor_id, f"run:{slot.isoformat()}")


class MonitorUseCases(EventSourcedApplication):
    """Use cases of monitors, on the store, clock and group commit of the application they are part of."""

    def get_monitor(self, monitor_id: str) -> Monitor:
        monitor: Monitor = self._load(Monitor.create_id(monitor_id))
        return monitor

    def create_monitor(self, ev: MonitorCreated) -> None:
        """Start a monitor: its first slot is the first one after now."""
        p, now = ev.payload, self.clock()
        first = next_slot(cron=p.schedule.cron, interval_s=p.schedule.interval_s, anchor=now, after=now)
        monitor = Monitor(
            monitor_id=p.monitor_id,
            **asked_by(ev),
            question=p.question,
            depth=p.depth,
            max_sources=p.max_sources,
            template=p.template.model_dump(mode="json") if p.template else None,
            cron=p.schedule.cron,
            interval_s=p.schedule.interval_s,
            anchor=now,
            next_slot=first,
            cause=ev.event_id,
        )
        with contextlib.suppress(AggregateNotFoundError):
            self.get_monitor(p.monitor_id)
            return  # a redelivered command: the monitor exists
        with contextlib.suppress(IntegrityError):  # another replica created it a moment ago
            self._save(monitor)

    def change_monitor(self, ev: MonitorChanged) -> None:
        """Pause, resume (from the next slot after now) or delete a monitor."""
        monitor = self._monitor_for(ev, ev.payload.monitor_id)
        if monitor is None:
            return
        change = ev.payload.change
        if change == "paused":
            monitor.pause(cause=ev.event_id)
        elif change == "resumed":
            monitor.resume(self._next_slot(monitor, self.clock()), cause=ev.event_id)
        else:
            monitor.delete(cause=ev.event_id)
        self._save(monitor)

    def fire_monitor(self, ev: TimerFired) -> None:
        """A slot is due: record it fired (once) and so start its run; then wait for the next."""
        p = ev.payload
        monitor = self._monitor_for(ev, p.monitor_id or "")
        if monitor is None or p.slot is None:
            return
        if monitor.status != "active" or monitor.has_fired(p.slot) or monitor.next_slot != p.slot:
            return  # paused, deleted, or a timer of a schedule that has moved on
        following = self._next_slot(monitor, max(self.clock(), p.slot))
        monitor.fire(p.slot, monitor_run_id(monitor.monitor_id, p.slot), following, cause=ev.event_id)
        self._save(monitor)

    def _next_slot(self, monitor: Monitor, after: datetime) -> datetime:
        return next_slot(cron=monitor.cron, interval_s=monitor.interval_s, anchor=monitor.anchor, after=after)

    def _monitor_for(self, ev: Event, monitor_id: str) -> Monitor | None:
        try:
            monitor = self.get_monitor(monitor_id)
        except (AggregateNotFoundError, ValueError):
            raise NotReady(f"monitor {monitor_id} is not known yet") from None
        if monitor.has_seen(ev.event_id):
            return None
        return None if monitor.status == "deleted" else monitor
