"""Durable timers: JetStream scheduled messages that come back as `timer.v1.fired`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

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
    "rollout_look",
]


class TimerFiredPayload(Contract):
    timer_id: str
    purpose: TimerPurpose
    task_id: str | None = None
    attempt: int | None = Field(default=None, ge=1)
    approval_id: str | None = None
    monitor_id: str | None = None
    slot: datetime | None = None
    rollout_id: str | None = Field(default=None, max_length=100, description="the rollout a `rollout_look` is for")


class TimerFired(Event, subject=subjects.TIMER_FIRED, type="timer.fired"):
    """Published once, when due, by the JetStream scheduler (set by the service that owns it)."""

    payload: TimerFiredPayload
