"""What the run routes take and answer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from contracts.numbers import Count
from contracts.report import TARGET_WORDS_MAX, TARGET_WORDS_MIN, ReportLength
from contracts.run import MAX_SUB_QUESTIONS, SUB_QUESTION_MAX_CHARS
from contracts.work import SourceKind
from services.gateway.api.bounds import Question


class RunCreate(BaseModel):
    question: Question
    depth: int = Field(default=2, ge=1, le=3)
    max_sources: int = Field(default=8, ge=1, le=50)
    approval_required: bool | None = Field(
        default=None, description="stop for a human's approval before publishing; default: the tenant's setting"
    )
    sources: list[SourceKind] | None = Field(
        default=None, min_length=1, description="where to search (corpus, datasets, web); default: the tenant's setting"
    )
    length: ReportLength = Field(
        default="standard", description="how much the report says: brief, standard (the default) or detailed"
    )
    target_words: int | None = Field(
        default=None,
        ge=TARGET_WORDS_MIN,
        le=TARGET_WORDS_MAX,
        description="about how many words of findings the report should have; takes precedence over `length`",
    )
    datasets: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="names of the tenant's datasets to search, and only those of its documents;"
        " without `sources` the run then searches these datasets alone",
    )
    template_id: str | None = Field(
        default=None,
        max_length=64,
        description="a research template of the tenant: its settings apply where this request gives none",
    )
    review_plan: bool = Field(
        default=False,
        description="pause after planning (state `awaiting_plan_review`) until POST /v1/runs/{run_id}/plan"
        " continues with the sub-questions, edited or not, or cancels",
    )


class CancelCreate(BaseModel):
    reason: str = Field(default="cancelled by the user", max_length=500)


class ApprovalCreate(BaseModel):
    decision: Literal["approve", "reject"]
    comment: str = Field(default="", max_length=2000)


SubQuestion = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=SUB_QUESTION_MAX_CHARS)]


class PlanReviewCreate(BaseModel):
    action: Literal["continue", "cancel"]
    sub_questions: list[SubQuestion] | None = Field(
        default=None,
        max_length=max(MAX_SUB_QUESTIONS.values()),
        description="continue: the plan to run (the run's sub-questions edited, removed or added; at most"
        " the depth's number, see `plan_review.max_sub_questions`); omitted: the plan as it is. cancel: none",
    )
    comment: str = Field(default="", max_length=2000)


class RunAccepted(BaseModel):
    run_id: str
    state: str
    links: dict[str, str]


class RunSummaryPublic(BaseModel):
    """One run in a list: what a list page shows of it."""

    run_id: str
    state: str
    question: str | None
    title: str | None
    created_at: str | None
    updated_at: str | None
    error: str | None
    cost: dict[str, Any]


class RunListPublic(BaseModel):
    runs: list[RunSummaryPublic]
    limit: Count
    offset: Count


class CancelPublic(BaseModel):
    run_id: str
    status: str


class ApprovalDecisionPublic(BaseModel):
    run_id: str
    approval_id: str | None
    decision: Literal["approve", "reject"]


class PlanReviewPublic(BaseModel):
    run_id: str
    review_id: str | None
    action: Literal["continue", "cancel"]
    sub_questions: list[str]


class LogEntryPublic(BaseModel):
    """One event of a run's log and its position in it (`seq`)."""

    seq: Count
    event: dict[str, Any]


class RunLogPublic(BaseModel):
    run_id: str
    events: list[LogEntryPublic]
    next_after: Count | None = Field(description="pass as `after` for the next page; null on the last one")


class StreamTicketPublic(BaseModel):
    ticket: str
    expires_in: Count
    url: str
