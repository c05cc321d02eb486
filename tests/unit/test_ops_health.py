"""What the console calls a consumer's trend and a service's health: slots and sample ids shared
by every gateway replica, a long trend thinned without losing its peaks, and instances judged
alive, stale or stopped from their heartbeats, with restarts counted over a window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from contracts.ops import Health, ServiceHeartbeat
from services.gateway.domain.lag_trend import sample_id, slot_of, slot_start, thin
from services.gateway.domain.service_health import service_health, services_health

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Point:
    n: int
    lag_s: float | None


def test_two_replicas_sampling_in_the_same_slot_name_the_same_sample() -> None:
    early, late = NOW + timedelta(seconds=0.2), NOW + timedelta(seconds=29.9)
    assert slot_of(early, 30) == slot_of(late, 30) == slot_of(NOW, 30)
    assert slot_of(NOW + timedelta(seconds=30), 30) == slot_of(NOW, 30) + 1
    assert slot_start(slot_of(NOW, 30), 30) == NOW.timestamp()
    slot = slot_of(early, 30)
    assert sample_id("QUARRY", "billing-lane", slot) == sample_id("QUARRY", "billing-lane", slot_of(late, 30))
    assert sample_id("QUARRY", "billing-lane", slot) != sample_id("QUARRY", "billing-lane", slot + 1)
    assert sample_id("QUARRY", "billing-lane", slot) != sample_id("QUARRY", "policy-lane", slot)


def test_a_short_trend_is_kept_whole() -> None:
    points = [Point(n, float(n)) for n in range(5)]
    assert thin(points, 5) == points and thin(points, 50) == points


def test_a_long_trend_keeps_each_runs_peak_in_order() -> None:
    points = [Point(n, 1.0) for n in range(100)]
    points[37] = Point(37, 500.0)
    points[90] = Point(90, None)  # unreadable: shown, as it is what an operator must see
    kept = thin(points, 10)
    assert len(kept) == 10
    assert [p.n for p in kept] == sorted(p.n for p in kept)
    assert Point(37, 500.0) in kept and Point(90, None) in kept
    with pytest.raises(ValueError):
        thin(points, 0)


def beat(
    instance: str,
    *,
    started_ago_s: float,
    last_ago_s: float,
    health: Health = "ok",
    service: str = "billing",
    interval_s: float = 10.0,
) -> ServiceHeartbeat:
    return ServiceHeartbeat(
        service=service,
        instance=instance,
        started_at=NOW - timedelta(seconds=started_ago_s),
        at=NOW - timedelta(seconds=last_ago_s),
        interval_s=interval_s,
        version="0.1.0",
        health=health,
    )


def test_an_instance_is_alive_until_three_of_its_intervals_pass_silently() -> None:
    fresh = service_health("billing", [beat("a", started_ago_s=600, last_ago_s=29)], NOW, DAY)
    assert (fresh.state, fresh.alive, [i.state for i in fresh.instances]) == ("up", 1, ["alive"])
    silent = service_health("billing", [beat("a", started_ago_s=600, last_ago_s=31)], NOW, DAY)
    assert (silent.state, silent.alive, [i.state for i in silent.instances]) == ("down", 0, ["stale"])
    assert silent.last_heartbeat == NOW - timedelta(seconds=31)


def test_an_instance_that_said_it_stopped_is_stopped_not_stale() -> None:
    found = service_health("billing", [beat("a", started_ago_s=600, last_ago_s=1, health="stopped")], NOW, DAY)
    assert (found.state, [i.state for i in found.instances]) == ("down", ["stopped"])


def test_a_first_start_is_no_restart_and_a_crash_replaced_is_one() -> None:
    first = service_health("billing", [beat("a", started_ago_s=3600, last_ago_s=2)], NOW, DAY)
    assert (first.starts, first.gone, first.restarts) == (1, 0, 0)
    crashed = [beat("a", started_ago_s=3600, last_ago_s=900), beat("b", started_ago_s=890, last_ago_s=2)]
    again = service_health("billing", crashed, NOW, DAY)
    assert (again.starts, again.gone, again.restarts, again.alive) == (2, 1, 1, 1)
    assert [i.beat.instance for i in again.instances] == ["b", "a"]  # alive first


def test_a_crash_without_a_new_instance_is_no_restart_and_starts_before_the_window_do_not_count() -> None:
    lost = [
        beat("a", started_ago_s=2 * 86_400, last_ago_s=5),
        beat("b", started_ago_s=2 * 86_400, last_ago_s=600),
    ]
    found = service_health("billing", lost, NOW, DAY)
    assert (found.starts, found.gone, found.restarts, found.alive, found.state) == (0, 1, 0, 1, "up")


def test_a_crash_loop_is_a_restart_per_new_instance_and_a_rolling_update_one_per_replica() -> None:
    loop = [
        beat("a", started_ago_s=300, last_ago_s=250),
        beat("b", started_ago_s=240, last_ago_s=200),
        beat("c", started_ago_s=190, last_ago_s=1),
    ]
    assert service_health("billing", loop, NOW, DAY).restarts == 2
    rolled = [
        beat("old1", started_ago_s=5 * 86_400, last_ago_s=100),
        beat("old2", started_ago_s=5 * 86_400, last_ago_s=60),
        beat("new1", started_ago_s=110, last_ago_s=1),
        beat("new2", started_ago_s=70, last_ago_s=1),
    ]
    found = service_health("billing", rolled, NOW, DAY)
    assert (found.starts, found.gone, found.restarts, found.alive) == (2, 2, 2, 2)
    only_crashed = service_health("billing", [beat("a", started_ago_s=300, last_ago_s=250)], NOW, DAY)
    assert (only_crashed.starts, only_crashed.gone, only_crashed.restarts) == (1, 1, 0)


def test_an_unhealthy_instance_alive_makes_its_service_degraded() -> None:
    beats = [beat("a", started_ago_s=60, last_ago_s=1), beat("b", started_ago_s=60, last_ago_s=1, health="not_ready")]
    assert service_health("billing", beats, NOW, DAY).state == "degraded"


def test_every_expected_service_is_listed_even_when_never_heard_from() -> None:
    beats = [beat("a", started_ago_s=60, last_ago_s=1, service="policy")]
    found = services_health(("billing", "policy"), beats, NOW, DAY)
    assert [(s.service, s.state) for s in found] == [("billing", "unknown"), ("policy", "up")]
    assert found[0].instances == [] and found[0].last_heartbeat is None


def test_a_heartbeat_refuses_a_service_name_that_could_reach_another_key() -> None:
    with pytest.raises(ValueError):
        beat("a", started_ago_s=1, last_ago_s=0, service="billing.policy")
    with pytest.raises(ValueError):
        beat("a.>", started_ago_s=1, last_ago_s=0)
