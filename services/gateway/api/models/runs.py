"""What the run routes take and answer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts.numbers import Count, Signed
from contracts.report import ReportLength, TargetWords
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
    target_words: TargetWords | None = Field(
        default=None,
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


class RunCostPublic(BaseModel):
    estimate: Signed | None
    reserved: Signed
    settled: Signed
    refunded: Signed
    closed: bool = Field(description="billing closed the run's reservation: nothing more will be charged")


class RunStepPublic(BaseModel):
    step: str | None
    status: str | None
    detail: str | None
    at: str


class RunSourcePublic(BaseModel):
    """A source of the draft, by its number in the report."""

    number: Count | None
    source_id: str | None
    title: str | None
    location: str | None


class RunReportPublic(BaseModel):
    """The published report's files (path, sha256); the text is GET /v1/runs/{run_id}/report.md."""

    title: str | None
    markdown: dict[str, Any] | None
    pdf: dict[str, Any] | None
    docx: dict[str, Any] | None


class RunDecisionPublic(BaseModel):
    """What a run waits on a person for: the deadline, and the decision once made."""

    model_config = ConfigDict(extra="allow")

    deadline: str | None = None
    status: str | None = None
    decided_by: str | None = None
    comment: str | None = None


class RunApprovalPublic(RunDecisionPublic):
    """What a waiting run asks approval for."""

    approval_id: str | None = None
    subject: str | None = None
    reason: str | None = None


class RunPlanReviewPublic(RunDecisionPublic):
    """The plan waiting for review."""

    review_id: str | None = None
    sub_questions: list[str] | None = None
    max_sub_questions: Count | None = None


class RunTemplatePublic(BaseModel):
    template_id: str
    version: Count | None
    name: str | None
    tone: str | None
    outline: list[str | None]


class RunRolloutArmPublic(BaseModel):
    """How a rollout assigned one component of the run: its arm, and on what basis (a pinned or
    excluded tenant, or the tenant's bucket of 10,000)."""

    rollout_id: str
    arm: Literal["candidate", "stable"]
    basis: Literal["pinned", "excluded", "bucket"]
    bucket: int = Field(ge=0, lt=10_000)


class RunPublic(BaseModel):
    """A run's view folded from its events. Keys a view stored by an older gateway lacks are left
    out of the answer (the route excludes what the view did not set), so it is answered as stored."""

    model_config = ConfigDict(extra="allow")

    run_id: str
    user_id: str | None = None
    state: str
    question: str | None = None
    depth: Count | None = None
    max_sources: Count | None = None
    sub_questions: list[str] = Field(default_factory=list)
    steps: list[RunStepPublic] = Field(default_factory=list)
    sources: list[RunSourcePublic] = Field(
        default_factory=list, description="the draft's sources; empty for those who may not see the draft yet"
    )
    passages_found: Count = 0
    cost: RunCostPublic | None = None
    report: RunReportPublic | None = None
    approval: RunApprovalPublic | None = None
    plan_review: RunPlanReviewPublic | None = None
    guardrails: list[dict[str, Any]] = Field(default_factory=list)
    cancel_requested: bool = False
    monitor_id: str | None = None
    template: RunTemplatePublic | None = None
    agent_versions: dict[str, str] = Field(
        default_factory=dict,
        description="component -> the agent version the run uses, fixed at admission; a component left out"
        " runs on its worker's built-in settings",
    )
    rollouts: dict[str, RunRolloutArmPublic] = Field(
        default_factory=dict, description="component -> how a rollout assigned it, for the components one did"
    )
    error: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class RunStatePublic(RunPublic):
    """The run rebuilt from its log alone, as it was after event `as_of_seq`."""

    as_of_seq: Count
    events: Count = Field(description="how many of the run's events the state folds")
