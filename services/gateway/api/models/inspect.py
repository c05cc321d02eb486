"""What the run inspector answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from contracts.numbers import Count, Signed


class TaskPublic(BaseModel):
    """One task of the run with its attempts, the policy decisions on its tools and its usage."""

    task_id: str
    kind: str | None
    role: str | None
    status: str
    attempts: list[dict[str, Any]] = Field(description="start, end, outcome and duration of each attempt, in order")
    policy: list[dict[str, Any]] = Field(description="the decision on each tool the task asked for")
    usage_records: Count
    started_at: str | None
    ended_at: str | None
    duration_ms: Count | None
    usage: dict[str, Any] = Field(description="tokens in and out, search calls, seconds, models; overall and per tool")
    credits: Signed | None = Field(description="what billing metered for the task's usage; null when it did not answer")


class RunMemoryPublic(BaseModel):
    """What the run put in its tenant's memory; a route answers `withheld` only when it withheld the entries."""

    indexed: bool
    chunks: Count
    entries: list[dict[str, Any]]
    withheld: str | None = None


class RunCreditsPublic(BaseModel):
    available: bool = Field(description="false when billing did not answer in time")
    total: Signed | None
    unmetered_records: Count | None


class RunTasksPublic(BaseModel):
    run_id: str
    tasks: list[TaskPublic]
    memory: RunMemoryPublic
    credits: RunCreditsPublic
