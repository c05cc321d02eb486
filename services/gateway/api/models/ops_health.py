"""What the operators' health routes answer: a consumer's lag over time, and each service's
instances, health and restarts (from the samples and heartbeats of contracts.ops)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from contracts.numbers import Count
from contracts.ops import Health
from services.gateway.api.models.ops import Seconds


class LagPointPublic(BaseModel):
    at: datetime
    pending: Count
    ack_pending: Count
    redelivered: Count
    lag_s: Seconds | None = Field(description="age of the oldest message owed; null when it could not be read")


class ConsumerTrendPublic(BaseModel):
    stream: str
    name: str
    window_s: Seconds = Field(description="how far back the trend reaches")
    interval_s: Seconds = Field(description="how often the gateway samples every durable consumer")
    sampled: Count = Field(description="samples kept in the window")
    points: list[LagPointPublic] = Field(
        description="oldest first; when more were kept than asked for, of each run of neighbours the one furthest behind"
    )
    read_at: datetime


class InstancePublic(BaseModel):
    instance: str
    state: Literal["alive", "stale", "stopped"] = Field(
        description="stale: no heartbeat for three of its intervals, without saying it stopped"
    )
    health: Health = Field(description="as its own probes judged it at its last heartbeat")
    reasons: list[str]
    version: str
    started_at: datetime
    last_heartbeat: datetime
    silent_s: Seconds = Field(description="since its last heartbeat")
    interval_s: Seconds


class ServicePublic(BaseModel):
    service: str
    state: Literal["up", "degraded", "down", "unknown"] = Field(
        description="up: instances alive and healthy; degraded: one alive is not; down: none alive; unknown: never heard"
    )
    alive: Count = Field(description="instances whose heartbeats keep coming")
    last_heartbeat: datetime | None
    starts: Count = Field(description="instances started in the window")
    gone: Count = Field(description="instances that stopped or went silent in the window")
    restarts: Count = Field(description="starts that replaced an instance gone in the window")
    instances: list[InstancePublic] = Field(description="alive first, then by latest heartbeat")


class ServiceListPublic(BaseModel):
    services: list[ServicePublic]
    window_s: Seconds
    read_at: datetime
