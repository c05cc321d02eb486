"""What the operators' event browser and dead-letter routes answer.

A payload is shown to those who may read payloads (`ops:payload`, platform admins); everyone
else with `ops:read` gets the envelope only: ids, type, times, sizes and headers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from contracts.numbers import MAX_SAFE_INTEGER, Count

PAYLOAD = "the event's payload; null unless the caller may read payloads (platform_admin)"


class EnvelopePublic(BaseModel):
    event_id: str | None = None
    type: str | None = None
    schema_version: Count | None = None
    occurred_at: str | None = None
    tenant_id: str | None = None
    run_id: str | None = None
    causation_id: str | None = None
    actor_user_id: str | None = None
    actor_agent: str | None = None
    size: Count | None = Field(default=None, description="the message's bytes")
    payload_size: Count | None = Field(default=None, description="the payload's bytes as compact JSON")
    headers: dict[str, str] = Field(default_factory=dict, description="`Nats-Msg-Id`, trace context, `Quarry-*`")
    malformed: bool = Field(default=False, description="the message is no JSON object: no envelope to show")
    payload: Any = Field(default=None, description=PAYLOAD)


class EventPublic(EnvelopePublic):
    stream: str
    seq: Count = Field(description="its sequence in the stream")
    subject: str
    stored_at: datetime = Field(description="when JetStream stored it")


class EventPagePublic(BaseModel):
    events: list[EventPublic] = Field(description="newest first")
    next_before: Count | None = Field(description="pass as `before` for older events; null: there are none")
    scanned: Count = Field(description="messages this page read from the stream (bounded by a scan budget)")
    last_seq: Count = Field(description="the stream's newest sequence when read")


class CorrelatedEventPublic(EnvelopePublic):
    stream: str | None = None
    seq: Count | None = Field(default=None, description="null when the stream no longer holds it")
    subject: str | None = None
    stored_at: datetime | None = None
    in_stream: bool
    gap_s: Annotated[float, Field(ge=0, le=MAX_SAFE_INTEGER)] | None = Field(
        description="seconds since the previous event of the run; null for the first"
    )


class CorrelationPublic(BaseModel):
    run_id: str
    events: list[CorrelatedEventPublic] = Field(description="in the order they were stored")
    domains: list[str] = Field(description="the subject domains the run's events came through")


class DeadLetterPublic(BaseModel):
    seq: Count = Field(description="its sequence in the dead-letter stream")
    service: str = Field(description="the service that gave up on it")
    reason: str
    subject: str | None = Field(description="the subject it was published on, where a redrive sends it")
    original_seq: Count | None = Field(description="its sequence in the event stream")
    dead_at: datetime
    state: str = Field(description="`open`, `redriven` or `discarded`")
    handled_by: str | None
    handled_at: str | None
    redrives: Count
    event: EnvelopePublic


class DeadLetterPagePublic(BaseModel):
    letters: list[DeadLetterPublic] = Field(description="newest first")
    next_before: Count | None
    scanned: Count


class DeadLetterFilter(BaseModel):
    """Which letters a bulk action takes: every open letter matching all the given fields."""

    service: str | None = None
    subject: str | None = None
    reason: str | None = Field(default=None, description="contained in the reason, case-insensitive")
    limit: int = Field(default=100, ge=1, le=500)


class RedrivePublic(BaseModel):
    seq: Count
    subject: str
    stored: bool = Field(description="false: JetStream already had this redrive (inside its duplicate window)")


class DiscardPublic(BaseModel):
    seq: Count
    state: str


class RedriveListPublic(BaseModel):
    redriven: list[RedrivePublic]


class DiscardListPublic(BaseModel):
    discarded: list[DiscardPublic]
