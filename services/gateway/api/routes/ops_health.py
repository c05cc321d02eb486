"""The operators' views of health over time: a durable consumer's lag trend (sampled by the
gateway, services.gateway.application.lag_sampler) and every service's instances, health and
restarts (from their heartbeats, quarry_runtime.heartbeat). Checked and audited as every ops
route is (`services.gateway.api.ops_access`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from quarry_security.natsauth import SERVICES
from services.gateway.api.deps import Components, ComponentsDep
from services.gateway.api.models.ops_health import ConsumerTrendPublic, ServiceListPublic
from services.gateway.api.ops_access import OPERATOR, BusStateDep
from services.gateway.application import ops_health
from services.gateway.application.ops_health import HealthParts
from services.gateway.errors import available

router = APIRouter(prefix="/v1/ops", tags=["ops"], dependencies=[OPERATOR])

DAY_S = 86_400
# A stream's or consumer's name as JetStream allows it, and as one token of a subject.
Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,256}$")]


def _parts(parts: Components) -> HealthParts:
    return available(parts.ops_health, "this gateway keeps no health records (it runs without a bus)")


@router.get("/consumers/{stream}/{name}/trend")
async def consumer_trend(
    stream: Name,
    name: Name,
    parts: ComponentsDep,
    state: BusStateDep,
    window_s: Annotated[int, Query(ge=60, le=DAY_S, description="how far back, in seconds")] = 3600,
    points: Annotated[int, Query(ge=2, le=500, description="most points returned")] = 120,
) -> ConsumerTrendPublic:
    """A durable consumer's pending, ack pending, redelivered and lag as time over the window,
    oldest first, from the samples the gateway takes of every consumer."""
    health = _parts(parts)
    return await ops_health.trend(
        health.samples,
        state,
        stream,
        name,
        window_s=window_s,
        points=points,
        interval_s=health.sampler.interval_s,
    )


@router.get("/services")
async def list_services(
    parts: ComponentsDep,
    window_s: Annotated[int, Query(ge=60, le=DAY_S, description="what starts and restarts count over")] = DAY_S,
) -> ServiceListPublic:
    """Every service: instances alive, last heartbeat, health, and starts and restarts in the window."""
    return await ops_health.services(_parts(parts).heartbeats, SERVICES, window_s=window_s)
