"""Which pending durable timers the sweep re-arms, and how (quarry_runtime.timersweep)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts import subjects
from quarry_runtime.timersweep import PendingTimer, is_stuck, parse_due, rearm_headers, rearm_id, stuck

NOW = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
GRACE = timedelta(seconds=30)


def timer(
    event_id: str,
    due: datetime | None,
    stored: datetime,
    *,
    target: str = subjects.TIMER_FIRED,
) -> PendingTimer:
    return PendingTimer(subjects.timer_schedule(event_id), due, stored, target)


def test_a_timer_held_past_its_due_time_by_more_than_the_grace_is_stuck_and_no_other() -> None:
    long_ago = NOW - timedelta(hours=1)
    timers = [
        timer("future", NOW + timedelta(minutes=5), long_ago),
        timer("just-due", NOW - timedelta(seconds=10), long_ago),  # the server may be a little late
        timer("at-the-grace", NOW - GRACE, long_ago),
        timer("stuck", NOW - GRACE - timedelta(seconds=1), long_ago),
        timer("long-stuck", NOW - timedelta(minutes=20), long_ago),
    ]
    assert [t.subject for t in stuck(timers, NOW, GRACE)] == [
        subjects.timer_schedule("stuck"),
        subjects.timer_schedule("long-stuck"),
    ]


def test_a_timer_stored_after_its_due_time_gets_the_grace_from_its_storing() -> None:
    """The outbox relay publishing late, or a re-arm just made: the server fires it at once,
    and it is not re-armed again before it has had the grace to."""
    due = NOW - timedelta(minutes=10)
    late = timer("late", due, NOW - timedelta(seconds=5))
    assert not is_stuck(late, NOW, GRACE)
    assert not is_stuck(late, NOW + GRACE - timedelta(seconds=6), GRACE)
    assert is_stuck(late, NOW + GRACE, GRACE)


def test_only_one_shot_schedules_of_timer_fired_are_re_armed() -> None:
    """A cron or interval schedule (none of ours), or one whose target a consumer would refuse
    (quarry_runtime.bus.SCHEDULED_SUBJECTS), is left as it is."""
    old = NOW - timedelta(hours=1)
    assert not is_stuck(timer("cron", None, old), NOW, GRACE)
    assert not is_stuck(timer("forged", old, old, target=subjects.CREDITS_REFUNDED), NOW, GRACE)


def test_the_schedule_header_is_read_as_the_bus_writes_it() -> None:
    assert parse_due("@at 2026-12-06T09:29:31Z") == datetime(2026, 12, 6, 9, 29, 31, tzinfo=UTC)
    assert parse_due("@every 5m") is None
    assert parse_due("@at tomorrow") is None
    assert parse_due("") is None


def test_each_re_arm_has_the_next_id_derived_from_the_message_it_replaces() -> None:
    subject = subjects.timer_schedule("e1")
    assert rearm_id(subject, "schedule-e1") == "schedule-e1-rearm-1"
    assert rearm_id(subject, "schedule-e1-rearm-1") == "schedule-e1-rearm-2"
    assert rearm_id(subject, "schedule-e1-rearm-41") == "schedule-e1-rearm-42"
    # Two replicas re-arming the same stuck message name it alike: JetStream keeps one.
    assert rearm_id(subject, "schedule-e1") == rearm_id(subject, "schedule-e1")


def test_a_re_arm_keeps_the_schedule_target_and_trace_and_drops_what_the_server_added() -> None:
    stored = {
        "Nats-Msg-Id": "schedule-e1",
        "Nats-Schedule": "@at 2026-12-06T09:29:31Z",
        "Nats-Schedule-Target": subjects.TIMER_FIRED,
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "Nats-Rollup": "sub",
        "Nats-Stream": subjects.STREAM,
        "Nats-Subject": subjects.timer_schedule("e1"),
        "Nats-Sequence": "7",
        "Nats-Time-Stamp": "2026-12-06T09:29:29.1Z",
    }
    assert rearm_headers(stored, subjects.timer_schedule("e1")) == {
        "Nats-Msg-Id": "schedule-e1-rearm-1",
        "Nats-Schedule": "@at 2026-12-06T09:29:31Z",
        "Nats-Schedule-Target": subjects.TIMER_FIRED,
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
