"""What the platform records about itself for its operators: samples of each durable consumer's
lag, and each service instance's heartbeat. Not events of the platform (no tenant, no run): they
live beside the event stream, in `subjects.LAG_STREAM` and the `HEARTBEATS_BUCKET`, for a day."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.numbers import MAX_SAFE_INTEGER, Count

# One key per service instance, `<service>.<instance id>`; its value the instance's latest
# `ServiceHeartbeat`. Entries expire a day after their last write (the bucket's TTL), so the
# bucket holds every instance that started or ran within that day and no more.
HEARTBEATS_BUCKET = "quarry_heartbeats"
HEARTBEATS_KEPT_S = 26 * 3600  # a day of starts, and a margin for a reader's window
LAG_SAMPLES_KEPT_S = 24 * 3600

Seconds = Annotated[float, Field(ge=0, le=MAX_SAFE_INTEGER)]
Health = Literal["ok", "not_ready", "not_live", "unknown", "stopped"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    schema_version: int = 1


class LagSample(_Record):
    """One durable consumer at one moment, as JetStream reported it."""

    stream: str = Field(max_length=256)
    consumer: str = Field(max_length=256)
    at: datetime
    pending: Count
    ack_pending: Count
    redelivered: Count
    lag_s: Seconds | None = Field(description="age of the oldest message owed; null when it could not be read")


class ServiceHeartbeat(_Record):
    """A service instance saying it is there, every `interval_s`, and once more when it stops."""

    service: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")  # one token of a key: no dots
    instance: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    started_at: datetime
    at: datetime
    interval_s: Seconds
    version: str = Field(max_length=64)
    health: Health
    reasons: list[Annotated[str, Field(max_length=300)]] = Field(default_factory=list, max_length=10)

    def key(self) -> str:
        return heartbeat_key(self.service, self.instance)


def heartbeat_key(service: str, instance: str) -> str:
    return f"{service}.{instance}"
