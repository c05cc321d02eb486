"""What the monitor routes take and answer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.monitor import one_schedule
from contracts.numbers import Count
from services.gateway.api.bounds import MAX_INTERVAL_S, Question


class MonitorCreate(BaseModel):
    question: Question
    cron: str | None = Field(default=None, description="five-field cron expression, UTC", max_length=120)
    interval_s: int | None = Field(default=None, ge=1, le=MAX_INTERVAL_S, description="or a fixed interval in seconds")
    depth: int = Field(default=1, ge=1, le=3)
    max_sources: int = Field(default=8, ge=1, le=50)
    template_id: str | None = Field(
        default=None,
        max_length=64,
        description="a research template of the tenant: every run the monitor fires uses it",
    )

    _one_schedule = model_validator(mode="after")(one_schedule)


class MonitorChangePublic(BaseModel):
    """A change the scheduler applies shortly (the status says what was asked)."""

    monitor_id: str
    status: str


class ScheduleView(BaseModel):
    """Exactly one of the two."""

    cron: str | None = None
    interval_s: Count | None = None


class FiredRunPublic(BaseModel):
    slot: str
    run_id: str | None


class MonitorTemplatePublic(BaseModel):
    template_id: str | None
    version: Count | None
    name: str | None


class MonitorPublic(BaseModel):
    """A monitor as its events left it. Keys a monitor stored by an older gateway lacks are left
    out of the answer (the route excludes what the view did not set)."""

    model_config = ConfigDict(extra="allow")

    monitor_id: str
    question: str
    depth: Count
    max_sources: Count
    schedule: ScheduleView
    status: str
    next_slot: str | None = None
    runs: list[FiredRunPublic] = Field(default_factory=list)
    created_by: str | None = None
    template: MonitorTemplatePublic | None = None
    version: Count | None = Field(default=None, description="the scheduler's latest change applied")


class MonitorListPublic(BaseModel):
    monitors: list[MonitorPublic]
