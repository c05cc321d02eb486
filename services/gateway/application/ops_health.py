"""The operators' views of health over time: one consumer's lag trend, and every service's
instances with their health and restarts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from quarry_runtime.attributes import from_attributes
from quarry_runtime.heartbeat import Heartbeat
from services.gateway.adapters.heartbeats import Heartbeats
from services.gateway.adapters.jetstream_state import JetStreamState
from services.gateway.adapters.lag_samples import LagSamples
from services.gateway.api.models.ops_health import (
    ConsumerTrendPublic,
    InstancePublic,
    LagPointPublic,
    ServiceListPublic,
    ServicePublic,
)
from services.gateway.application.lag_sampler import LagSampler
from services.gateway.domain.lag_trend import thin
from services.gateway.domain.service_health import Instance, ServiceHealth, services_health
from services.gateway.errors import NotFound


async def trend(
    samples: LagSamples,
    state: JetStreamState,
    stream: str,
    consumer: str,
    *,
    window_s: float,
    points: int,
    interval_s: float,
) -> ConsumerTrendPublic:
    """The consumer's samples of the last `window_s`, thinned to `points`; 404 for a consumer
    neither sampled in the window nor known to JetStream now."""
    now = datetime.now(UTC)
    kept = await samples.read(stream, consumer, now - timedelta(seconds=window_s))
    if not kept and not await _exists(state, stream, consumer):
        raise NotFound(f"no consumer {consumer} on stream {stream}")
    return ConsumerTrendPublic(
        stream=stream,
        name=consumer,
        window_s=window_s,
        interval_s=interval_s,
        sampled=len(kept),
        points=[
            LagPointPublic(
                at=s.at, pending=s.pending, ack_pending=s.ack_pending, redelivered=s.redelivered, lag_s=s.lag_s
            )
            for s in thin(kept, points)
        ],
        read_at=now,
    )


async def _exists(state: JetStreamState, stream: str, consumer: str) -> bool:
    if stream not in {info.config.name for info in await state.streams()}:
        return False
    return any(c.name == consumer for c in await state.consumers(stream))


def _service(found: ServiceHealth) -> ServicePublic:
    return from_attributes(ServicePublic, found, instances=[_instance(i) for i in found.instances])


def _instance(found: Instance) -> InstancePublic:
    """The instance as its last heartbeat tells it, with what its silence since says."""
    return from_attributes(
        InstancePublic, found.beat, state=found.state, last_heartbeat=found.beat.at, silent_s=found.silent_s
    )


async def services(heartbeats: Heartbeats, expected: tuple[str, ...], *, window_s: float) -> ServiceListPublic:
    """Every service the platform runs (and any other that beats), from its instances' heartbeats."""
    now = datetime.now(UTC)
    found = services_health(expected, await heartbeats.latest(), now, timedelta(seconds=window_s))
    return ServiceListPublic(services=[_service(s) for s in found], window_s=window_s, read_at=now)


@dataclass(frozen=True)
class HealthParts:
    """What the health views read, and the jobs that keep them fed while the gateway runs."""

    samples: LagSamples
    heartbeats: Heartbeats
    sampler: LagSampler
    heartbeat: Heartbeat | None  # the gateway's own instance (None: heartbeats turned off)
