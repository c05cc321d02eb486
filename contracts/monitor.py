"""Monitors: recurring research. The gateway issues the commands; the orchestrator fires them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol, TypeVar

from pydantic import Field, model_validator

from contracts import subjects
from contracts.envelope import Contract, Event
from contracts.report import Outline, ReportLength, TargetWords, Tone
from contracts.work import SourceKind


class _Scheduled(Protocol):
    cron: str | None
    interval_s: int | None


_S = TypeVar("_S", bound=_Scheduled)


def one_schedule(model: _S) -> _S:
    """A model validator (mode "after") for a model with a schedule: exactly one of cron and interval_s."""
    if (model.cron is None) == (model.interval_s is None):
        raise ValueError("give exactly one of cron or interval_s")
    return model


class Schedule(Contract):
    """Either a cron expression (UTC, five fields) or a fixed interval in seconds."""

    cron: str | None = Field(default=None, max_length=120)
    interval_s: int | None = Field(default=None, ge=1, le=366 * 24 * 3600)

    _exactly_one = model_validator(mode="after")(one_schedule)


class MonitorTemplate(Contract):
    """A research template as resolved when the monitor was made: every run it fires uses these values."""

    template_id: str
    version: int = Field(ge=1)
    name: str = Field(max_length=120)
    sources: list[SourceKind] | None = Field(default=None, min_length=1)
    length: ReportLength = "standard"
    target_words: TargetWords | None = None
    outline: Outline = Field(default_factory=list)
    tone: Tone = "neutral"


class MonitorCreatedPayload(Contract):
    monitor_id: str
    question: str = Field(min_length=3, max_length=2000)
    depth: int = Field(ge=1, le=3)
    max_sources: int = Field(ge=1, le=50)
    schedule: Schedule
    template: MonitorTemplate | None = Field(default=None, description="the research template its runs use")


class MonitorCreated(Event, subject=subjects.MONITOR_CREATED, type="monitor.created"):
    payload: MonitorCreatedPayload


class MonitorChangedPayload(Contract):
    monitor_id: str
    change: Literal["paused", "resumed", "deleted"]


class MonitorChanged(Event, subject=subjects.MONITOR_CHANGED, type="monitor.changed"):
    """Pause, resume or delete, as asked through the gateway."""

    payload: MonitorChangedPayload


class MonitorScheduledPayload(Contract):
    monitor_id: str
    status: Literal["active", "paused", "deleted"]
    next_slot: datetime | None = None
    # The monitor's version after the change. Deliveries can come out of order (a redelivery
    # after a nack follows later messages), so a view keeps the newest version it has seen.
    version: int | None = Field(default=None, ge=1)


class MonitorScheduled(Event, subject=subjects.MONITOR_SCHEDULED, type="monitor.scheduled"):
    """The orchestrator's answer to a command: the monitor's status and next firing."""

    payload: MonitorScheduledPayload


class MonitorFiredPayload(Contract):
    monitor_id: str
    slot: datetime
    run_id: str
    previous_run_id: str | None = None
    next_slot: datetime | None = None


class MonitorFired(Event, subject=subjects.MONITOR_FIRED, type="monitor.fired"):
    """One slot fired (exactly once): the run it started, and when the next one is due."""

    payload: MonitorFiredPayload
