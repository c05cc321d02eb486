"""What the cost attribution of a run answers (`GET /v1/runs/{id}/costs` and its ops twin)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from contracts.numbers import Count, Signed


class ModelTokensPublic(BaseModel):
    model: str
    tokens_in: Count
    tokens_out: Count


class AttemptCostPublic(BaseModel):
    """One attempt at a step: its outcome and the usage its outcome names."""

    attempt: Count
    outcome: str | None
    duration_ms: Count | None
    reason: str | None = None
    tokens_in: Count
    tokens_out: Count
    credits: Signed | None = Field(description="what billing metered for this attempt's usage; null without billing")


class StepCreditsPublic(BaseModel):
    metered: Signed | None = Field(description="what billing metered for the step's usage; null without billing")
    charged: Signed | None = Field(description="the step's part of the run's settlement; null until settled")
    refunded: Signed | None = Field(description="metered but not charged (a refund, or usage the settlement left out)")
    unmetered_records: Count | None = Field(description="usage records billing has not metered yet")


class StepCostPublic(BaseModel):
    """One step of the run (a task the orchestrator dispatched) with what it cost."""

    task_id: str
    kind: str | None
    role: str | None
    status: str
    sub_question: str | None
    started_at: str | None
    ended_at: str | None
    wall_ms: Count | None = Field(description="from the first dispatch to the last outcome")
    attempts: list[AttemptCostPublic]
    usage_records: Count
    missing_usage: Count = Field(description="usage records its outcomes name that the run's log does not hold yet")
    tokens_in: Count
    tokens_out: Count
    by_model: list[ModelTokensPublic]
    tool_calls: dict[str, Count] = Field(description="usage records per tool: one per call the worker metered")
    search_calls: Count
    credits: StepCreditsPublic


class RunCreditsTotalPublic(BaseModel):
    available: bool = Field(description="false when billing did not answer in time (per-step credits are null)")
    settlement: Literal["open", "settled", "refunded"]
    reserved: Count | None
    metered: Signed | None
    charged: Signed | None = Field(description="the steps' charges added up: equal to `settled` once settled")
    refunded: Signed | None
    settled: Count | None = Field(description="what billing settled for the run (its credits.settled)")
    released: Count | None = Field(description="the reservation billing gave back (its credits.refunded)")
    unmetered_records: Count | None


class RunCostTotalsPublic(BaseModel):
    started_at: str | None
    ended_at: str | None
    wall_ms: Count | None = Field(description="from the request to the run's end; null while it runs")
    steps: Count
    attempts: Count
    tokens_in: Count
    tokens_out: Count
    by_model: list[ModelTokensPublic]
    tool_calls: dict[str, Count]
    search_calls: Count
    usage_records: Count
    missing_usage: Count
    credits: RunCreditsTotalPublic


class RunCostsPublic(BaseModel):
    run_id: str
    tenant_id: str
    state: str
    steps: list[StepCostPublic]
    totals: RunCostTotalsPublic
