"""Durable timers: JetStream scheduled messages that come back as `timer.v1.fired`."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from contracts import subjects
from contracts.envelope import Contract, Event

TimerPurpose = Literal[
    "task_timeout",
    "task_retry",
    "tool_retry",
    "approval_deadline",
    "monitor_slot",
    "question_task_timeout",
    "question_credits_timeout",
]


class TimerFiredPayload(Contract):
    timer_id: str
    purpose: TimerPurpose
    task_id: str | None = None
    attempt: int | None = Field(default=None, ge=1)
    approval_id: str | None = None
    monitor_id: str | None = None
    slot: datetime | None = None


class TimerFired(Event):
    """Published once, when due, by the JetStream scheduler (set by the service that owns it)."""

    SUBJECT: ClassVar[str] = subjects.TIMER_FIRED
    TYPE: ClassVar[str] = "timer.fired"
    type: Literal["timer.fired"] = "timer.fired"
    payload: TimerFiredPayload
