"""Each service's instances, health and restarts, judged from their heartbeats (contracts.ops):
pure, so the console and the tests agree on what "alive", "stale" and "restart" mean.

An instance is alive while its heartbeats keep coming: its last is younger than `STALE_BEATS`
of its own intervals. One that said it stopped is stopped; one that went quiet without saying so
is stale (killed, crashed, cut off). Over a window (a day), the starts are the instances that
started in it, and a restart is a start that replaced an instance gone in it: each start is paired
with the earliest-started gone instance, not yet paired, that started before it. A deployment's
first start is no restart, a crash followed by a new instance is one, a crash loop is one per new
instance, a rolling update of two replicas is two, and a crash with no new instance is none (the
service shows one instance fewer, or down).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from contracts.ops import Health, ServiceHeartbeat

STALE_BEATS = 3.0
MIN_STALE_S = 5.0
InstanceState = Literal["alive", "stale", "stopped"]
ServiceState = Literal["up", "degraded", "down", "unknown"]


@dataclass(frozen=True)
class Instance:
    beat: ServiceHeartbeat
    state: InstanceState
    silent_s: float  # since its last heartbeat


@dataclass(frozen=True)
class ServiceHealth:
    service: str
    state: ServiceState
    instances: list[Instance]  # alive first, then by latest heartbeat
    alive: int
    last_heartbeat: datetime | None
    starts: int
    gone: int
    restarts: int


def stale_after_s(beat: ServiceHeartbeat) -> float:
    """How long an instance may be silent before it counts as gone."""
    return max(MIN_STALE_S, STALE_BEATS * beat.interval_s)


def instance_state(beat: ServiceHeartbeat, now: datetime) -> Instance:
    silent = max(0.0, (now - beat.at).total_seconds())
    if beat.health == "stopped":
        return Instance(beat, "stopped", silent)
    return Instance(beat, "stale" if silent > stale_after_s(beat) else "alive", silent)


def _service_state(alive: Sequence[Instance], known: bool) -> ServiceState:
    if not known:
        return "unknown"
    if not alive:
        return "down"
    healthy: set[Health] = {"ok", "unknown"}
    return "up" if all(i.beat.health in healthy for i in alive) else "degraded"


def service_health(service: str, beats: Iterable[ServiceHeartbeat], now: datetime, window: timedelta) -> ServiceHealth:
    """One service from its instances' latest heartbeats."""
    since = now - window
    instances = sorted(
        (instance_state(b, now) for b in beats if b.service == service),
        key=lambda i: (i.state != "alive", -i.beat.at.timestamp()),
    )
    alive = [i for i in instances if i.state == "alive"]
    starts = [i for i in instances if i.beat.started_at >= since]
    gone = [i for i in instances if i.state != "alive" and i.beat.at >= since]
    return ServiceHealth(
        service=service,
        state=_service_state(alive, bool(instances)),
        instances=instances,
        alive=len(alive),
        last_heartbeat=max((i.beat.at for i in instances), default=None),
        starts=len(starts),
        gone=len(gone),
        restarts=restarts(starts, gone),
    )


def restarts(starts: Iterable[Instance], gone: Iterable[Instance]) -> int:
    """How many of `starts` replaced one of `gone`, each gone instance replaced at most once."""
    waiting = sorted((i.beat.started_at, i.beat.instance) for i in gone)
    replaced = 0
    for start in sorted(starts, key=lambda i: i.beat.started_at):
        for n, (began, instance) in enumerate(waiting):
            if began < start.beat.started_at and instance != start.beat.instance:
                del waiting[n]
                replaced += 1
                break
    return replaced


def services_health(
    expected: Iterable[str], beats: Sequence[ServiceHeartbeat], now: datetime, window: timedelta
) -> list[ServiceHealth]:
    """Every expected service (one never heard from is `unknown`) and any other that beats, by name."""
    names = sorted({*expected, *(b.service for b in beats)})
    return [service_health(name, beats, now, window) for name in names]
