"""Monitors: schedules, exactly-once slots (also with two replicas on one store), what changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError

from contracts.envelope import Actor
from contracts.ids import new_id
from contracts.monitor import (
    MonitorChanged,
    MonitorChangedPayload,
    MonitorCreated,
    MonitorCreatedPayload,
    MonitorScheduled,
    Schedule,
)
from contracts.timer import TimerFired, TimerFiredPayload
from contracts.work import Claim, Draft, Section, SourceRef
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase, eventstore_env
from services.gateway.readmodels.monitors import MonitorStore
from services.orchestrator.application import Orchestrator
from services.orchestrator.monitors.application import monitor_run_id
from services.orchestrator.monitors.domain import Monitor
from services.orchestrator.monitors.schedule import is_valid_cron, next_slot
from services.orchestrator.runs.workflow import compare
from services.reporter.domain.layout import RenderOptions
from services.reporter.domain.markdown import render_markdown
from tests.support.orchestrator import relayed_monitors

T0 = datetime(2026, 11, 25, 8, 0, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def orchestrator(clock: Clock, env: dict[str, str] | None = None) -> Orchestrator:
    app = Orchestrator(env=env or {"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.clock = clock
    return app


def created(interval_s: int | None = 600, cron: str | None = None) -> MonitorCreated:
    payload = MonitorCreatedPayload(
        monitor_id=new_id(),
        question="What changed in asyncio?",
        depth=1,
        max_sources=4,
        schedule=Schedule(cron=cron, interval_s=interval_s),
    )
    return MonitorCreated.create(payload, tenant_id="t1", actor=Actor(user_id="u1", roles=["owner"]))


def slot_timer(monitor: Monitor, slot: datetime) -> TimerFired:
    payload = TimerFiredPayload(timer_id=new_id(), purpose="monitor_slot", monitor_id=monitor.monitor_id, slot=slot)
    return TimerFired.create(payload, tenant_id=monitor.tenant_id)


def test_interval_slots_keep_their_rhythm_and_cron_is_validated() -> None:
    anchor = T0
    assert next_slot(cron=None, interval_s=600, anchor=anchor, after=anchor) == anchor + timedelta(seconds=600)
    late = anchor + timedelta(seconds=1900)  # three slots late
    assert next_slot(cron=None, interval_s=600, anchor=anchor, after=late) == anchor + timedelta(seconds=2400)
    assert next_slot(cron="0 9 * * 1", interval_s=None, anchor=anchor, after=T0) == datetime(
        2026, 11, 30, 9, 0, tzinfo=UTC
    )
    assert is_valid_cron("*/5 * * * *") and not is_valid_cron("every tuesday") and not is_valid_cron("* * * * * *")


def test_a_slot_fires_once_and_schedules_the_next() -> None:
    clock = Clock()
    app = orchestrator(clock)
    ev = created()
    app.create_monitor(ev)
    app.create_monitor(ev)  # redelivered
    monitor = app.get_monitor(ev.payload.monitor_id)
    first = monitor.next_slot
    assert first == T0 + timedelta(seconds=600)
    clock.now = first
    due = slot_timer(monitor, first)
    app.fire_monitor(due)
    app.fire_monitor(due)
    app.fire_monitor(slot_timer(monitor, first))  # the same slot from another timer message
    monitor = app.get_monitor(ev.payload.monitor_id)
    assert monitor.fired == {first.isoformat(): monitor_run_id(monitor.monitor_id, first)}
    assert monitor.next_slot == first + timedelta(seconds=600)


def test_pause_resume_and_delete() -> None:
    clock = Clock()
    app = orchestrator(clock)
    ev = created()
    app.create_monitor(ev)
    mid = ev.payload.monitor_id

    def change(what: str) -> None:
        payload = MonitorChangedPayload(monitor_id=mid, change=what)
        app.change_monitor(MonitorChanged.create(payload, tenant_id="t1"))

    first = app.get_monitor(mid).next_slot
    assert first is not None
    change("paused")
    clock.now = first
    app.fire_monitor(slot_timer(app.get_monitor(mid), first))
    assert app.get_monitor(mid).fired == {}
    clock.now = first + timedelta(seconds=1500)
    change("resumed")
    monitor = app.get_monitor(mid)
    assert monitor.status == "active" and monitor.next_slot == T0 + timedelta(seconds=2400)
    change("deleted")
    assert app.get_monitor(mid).status == "deleted"


def test_two_replicas_racing_on_one_store_fire_a_slot_exactly_once(tmp_path: Path) -> None:
    env = eventstore_env(RuntimeSettings(data_dir=tmp_path), "orchestrator")
    clock = Clock()
    a, b = orchestrator(clock, env), orchestrator(clock, env)
    ev = created()
    a.create_monitor(ev)
    first = a.get_monitor(ev.payload.monitor_id).next_slot
    assert first is not None
    clock.now = first
    # Both replicas load the monitor before either saves: the second save loses on the version.
    seen_by_a = a.get_monitor(ev.payload.monitor_id)
    seen_by_b = b.get_monitor(ev.payload.monitor_id)
    seen_by_a.fire(first, monitor_run_id(seen_by_a.monitor_id, first), first + timedelta(seconds=600), cause="x")
    seen_by_b.fire(first, monitor_run_id(seen_by_b.monitor_id, first), first + timedelta(seconds=600), cause="y")
    a.save(seen_by_a)
    with pytest.raises(IntegrityError):
        b.save(seen_by_b)
    # Redelivered to b, the timer now finds the slot fired and does nothing.
    b.fire_monitor(slot_timer(b.get_monitor(ev.payload.monitor_id), first))
    fired = [n for n in a.recorder.select_notifications(start=1, limit=100) if n.topic.endswith("SlotFired")]
    assert len(fired) == 1
    a.close()
    b.close()


def test_a_fired_slot_publishes_its_run_and_the_next_timer() -> None:
    clock = Clock()
    app = orchestrator(clock)
    ev = created()
    app.create_monitor(ev)
    first = app.get_monitor(ev.payload.monitor_id).next_slot
    assert first is not None
    clock.now = first
    app.fire_monitor(slot_timer(app.get_monitor(ev.payload.monitor_id), first))
    out = relayed_monitors(app, limit=10)
    subjects = [(o.subject, o.at) for o in out]
    assert subjects[0] == ("monitor.v1.scheduled", None)
    assert subjects[1] == ("timer.v1.fired", first)
    run = next(o.event for o in out if o.subject == "run.v1.requested")
    assert run.run_id == monitor_run_id(ev.payload.monitor_id, first)
    assert run.payload.monitor_id == ev.payload.monitor_id and run.payload.previous_run_id is None
    assert run.actor.user_id == "u1" and run.tenant_id == "t1"
    assert subjects[-1] == ("timer.v1.fired", first + timedelta(seconds=600))


def draft(sources: list[tuple[str, str]], claims: list[str]) -> Draft:
    refs = [
        SourceRef(number=i + 1, source_id=s, title=s.upper(), location=loc, passage="p")
        for i, (s, loc) in enumerate(sources)
    ]
    return Draft(
        title="t",
        question="q",
        summary=[],
        sections=[Section(heading="h", claims=[Claim(text=c, citations=[1]) for c in claims])],
        sources=refs,
    )


def test_the_report_says_what_changed_since_the_previous_run() -> None:
    before = draft([("a", "§1"), ("b", "§2")], ["Old finding.", "Kept finding."])
    after = draft([("b", "§2"), ("c", "§3")], ["Kept finding.", "New finding."])
    changes = compare("prev-run", before, after)
    assert changes.new_sources == ["C — §3"] and changes.dropped_sources == ["A — §1"]
    assert changes.new_findings == ["New finding."] and changes.dropped_findings == ["Old finding."]
    md = render_markdown(after, RenderOptions(run_id="r", generated_at=T0, changes=changes))
    assert "## What changed since the previous run" in md and "- New finding." in md and "prev-run" in md
    assert compare("prev-run", None, after).new_findings == ["Kept finding.", "New finding."]


def test_a_cron_that_never_fires_is_rejected_at_once_not_searched_for_decades() -> None:
    import time as _time

    from quarry_runtime.errors import Rejected
    from services.orchestrator.monitors.schedule import next_slot

    now = datetime(2026, 12, 6, tzinfo=UTC)
    started = _time.monotonic()
    with pytest.raises(Rejected, match="does not fire"):
        next_slot(cron="0 0 30 2 *", interval_s=None, anchor=now, after=now)
    assert _time.monotonic() - started < 1.0


def test_the_gateways_view_keeps_the_newest_change_whatever_order_deliveries_come_in(tmp_path: Path) -> None:
    """A pause confirmed, then the creation's confirmation redelivered late (after a nack): the
    view stays paused instead of going back to active for good."""
    clock = Clock()
    app = orchestrator(clock)
    ev = created()
    app.create_monitor(ev)
    app.change_monitor(
        MonitorChanged.create(
            MonitorChangedPayload(monitor_id=ev.payload.monitor_id, change="paused"),
            tenant_id="t1",
            actor=Actor(user_id="u1", roles=["owner"]),
        )
    )
    scheduled = [o.event for o in relayed_monitors(app, limit=10) if isinstance(o.event, MonitorScheduled)]
    assert [(s.payload.status, s.payload.version) for s in scheduled] == [("active", 1), ("paused", 2)]
    view = MonitorStore(SqlDatabase(RuntimeSettings(data_dir=tmp_path), "gateway"))
    view.apply(ev)
    for late_first in reversed(scheduled):
        view.apply(late_first)
    shown = view.get("t1", ev.payload.monitor_id)
    assert shown is not None and shown["status"] == "paused" and shown["version"] == 2
