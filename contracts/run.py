"""Run lifecycle events (the saga's spine)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from contracts import subjects
from contracts.agents import AgentVersion, Component
from contracts.envelope import Contract, Event
from contracts.report import Outline, ReportLength, TargetWords, Tone
from contracts.task import Fault
from contracts.work import SourceKind

DEFAULT_APPROVAL_TIMEOUT_S = 7 * 24 * 3600
# The most sub-questions a plan of each depth holds (the planner's own most): each one becomes a
# search the run's reservation was sized for, so a reviewed plan may not hold more.
MAX_SUB_QUESTIONS: dict[int, int] = {1: 3, 2: 4, 3: 6}
# A "sub-question" longer than this is a paragraph, useless as a search query.
SUB_QUESTION_MAX_CHARS = 300


class RunRequestedPayload(Contract):
    question: str = Field(min_length=3, max_length=2000)
    depth: int = Field(ge=1, le=3)
    max_sources: int = Field(ge=1, le=50)
    approval_required: bool = Field(default=False, description="a human approves before the report is published")
    approval_timeout_s: int = Field(default=DEFAULT_APPROVAL_TIMEOUT_S, ge=1)
    review_plan: bool = Field(
        default=False,
        description="pause after planning until a human continues with the sub-questions (edited) or cancels;"
        " the wait is `approval_timeout_s` long, after which the run expires",
    )
    monitor_id: str | None = Field(default=None, description="the monitor whose firing started this run")
    previous_run_id: str | None = Field(default=None, description="the monitor's run before this one")
    pii_policy: Literal["redact", "block"] = Field(default="redact", description="PII found in the report")
    length: ReportLength = Field(default="standard", description="how much the report says: brief, standard, detailed")
    target_words: TargetWords | None = Field(
        default=None, description="about how many words the report's findings run to; takes precedence over `length`"
    )
    sources: list[SourceKind] | None = Field(
        default=None, min_length=1, description="where the searches look; unset: the corpus and the tenant's datasets"
    )
    datasets: list[str] | None = Field(
        default=None, min_length=1, description="ids of the tenant's datasets the searches read; unset: all of them"
    )

    template_id: str | None = Field(default=None, description="the research template the run was configured from")
    template_version: int | None = Field(default=None, ge=1, description="the template's version at request time")
    template_name: str | None = Field(default=None, max_length=120)
    outline: Outline = Field(default_factory=list, description="the report's sections, in order")
    tone: Tone = Field(default="neutral", description="how the report is framed: neutral, executive, technical")


class RunRequested(Event, subject=subjects.RUN_REQUESTED, type="run.requested"):
    payload: RunRequestedPayload


class RolloutArm(Contract):
    """How a rollout assigned one component of a run (recorded so the split can be audited)."""

    rollout_id: str
    arm: Literal["candidate", "stable"]
    basis: Literal["pinned", "excluded", "bucket"]
    bucket: int = Field(ge=0, lt=10_000)
    shadow: AgentVersion | None = Field(
        default=None, description="the candidate the run's tasks of the component are shadowed with (sampled)"
    )


class RunAdmittedPayload(Contract):
    credits_reserved: int = Field(ge=0)
    agent_versions: dict[Component, AgentVersion] = Field(
        default_factory=dict,
        description="the version of each component the run uses, fixed at admission; a component "
        "left out runs on its worker's built-in settings",
    )
    rollouts: dict[Component, RolloutArm] = Field(
        default_factory=dict, description="the components a rollout assigned, and how"
    )


class RunAdmitted(Event, subject=subjects.RUN_ADMITTED, type="run.admitted"):
    payload: RunAdmittedPayload


class RunPlannedPayload(Contract):
    sub_questions: list[str]


class RunPlanned(Event, subject=subjects.RUN_PLANNED, type="run.planned"):
    payload: RunPlannedPayload


class RunStepChangedPayload(Contract):
    step: str
    status: Literal["started", "finished", "retrying", "failed", "denied"]
    detail: str = ""


class RunStepChanged(Event, subject=subjects.RUN_STEP_CHANGED, type="run.step_changed"):
    payload: RunStepChangedPayload


class RunCompletedPayload(Contract):
    usage_event_ids: list[str]
    sources: int = Field(ge=0)
    report_markdown: str | None = None
    report_pdf: str | None = None


class RunCompleted(Event, subject=subjects.RUN_COMPLETED, type="run.completed"):
    payload: RunCompletedPayload


class RunFailedPayload(Contract):
    reason: str
    step: str | None = None
    usage_event_ids: list[str] = Field(default_factory=list)
    fault: Fault = Field(
        default="platform",
        description="tenant: charged its metered usage (its own model endpoint, a denied tool, nothing found); "
        "platform: refunded (a service error, retries exhausted, the platform's model down)",
    )


class RunFailed(Event, subject=subjects.RUN_FAILED, type="run.failed"):
    payload: RunFailedPayload


class RunEndedPayload(Contract):
    """Why a run stopped short of its report, and the usage it had metered until then."""

    reason: str
    usage_event_ids: list[str] = Field(default_factory=list)


class RunRejectedPayload(RunEndedPayload):
    pass


class RunRejected(Event, subject=subjects.RUN_REJECTED, type="run.rejected"):
    payload: RunRejectedPayload


class RunCancelRequestedPayload(Contract):
    reason: str = Field(default="cancelled by the user", max_length=500)


class RunCancelRequested(Event, subject=subjects.RUN_CANCEL_REQUESTED, type="run.cancel_requested"):
    """A user asks to stop the run; it stops at the next step boundary."""

    payload: RunCancelRequestedPayload


class RunCancelledPayload(RunEndedPayload):
    pass


class RunCancelled(Event, subject=subjects.RUN_CANCELLED, type="run.cancelled"):
    payload: RunCancelledPayload


class RunWaitingApprovalPayload(Contract):
    approval_id: str
    subject: str = Field(description="what is to be approved: `publish`, or `task:<task id>` for a tool use")
    reason: str
    deadline: datetime


class RunWaitingApproval(Event, subject=subjects.RUN_WAITING_APPROVAL, type="run.waiting_approval"):
    payload: RunWaitingApprovalPayload


class RunResumedPayload(Contract):
    approval_id: str
    approved_by: str | None
    comment: str = ""
    outcome: Literal["approved", "refused", "expired"] = Field(
        default="approved",
        description="refused or expired: a step the run can do without (a host's pages) is dropped and the run goes on",
    )


class RunResumed(Event, subject=subjects.RUN_RESUMED, type="run.resumed"):
    payload: RunResumedPayload


class RunExpiredPayload(RunEndedPayload):
    pass


class RunExpired(Event, subject=subjects.RUN_EXPIRED, type="run.expired"):
    payload: RunExpiredPayload


class RunAwaitingPlanReviewPayload(Contract):
    review_id: str
    sub_questions: list[str] = Field(description="the plan as the planner made it")
    max_sub_questions: int = Field(ge=1, description="the most sub-questions the revised plan may hold")
    deadline: datetime


class RunAwaitingPlanReview(Event, subject=subjects.RUN_AWAITING_PLAN_REVIEW, type="run.awaiting_plan_review"):
    """The run asked for a review of its plan and waits: continue (edited) or cancel."""

    payload: RunAwaitingPlanReviewPayload


class RunPlanReviewedPayload(Contract):
    action: Literal["cancel", "continue"]
    sub_questions: list[str] = Field(
        default_factory=list,
        max_length=max(MAX_SUB_QUESTIONS.values()),
        description="continue: the plan to run, edited or not (at most the depth's number); cancel: none",
    )
    comment: str = Field(default="", max_length=2000)
    review_id: str | None = Field(default=None, description="the review asked for; None: the one pending")

    @model_validator(mode="after")
    def _plan_fits(self) -> RunPlanReviewedPayload:
        if self.action == "cancel":
            if self.sub_questions:
                raise ValueError("a cancelled plan review carries no sub-questions")
            return self
        if not self.sub_questions:
            raise ValueError("continuing needs at least one sub-question")
        for i, sub_question in enumerate(self.sub_questions):
            if not sub_question.strip():
                raise ValueError(f"sub-question {i + 1} is empty")
            if len(sub_question) > SUB_QUESTION_MAX_CHARS:
                raise ValueError(f"sub-question {i + 1} is longer than {SUB_QUESTION_MAX_CHARS} characters")
        if len({q.strip().casefold() for q in self.sub_questions}) != len(self.sub_questions):
            raise ValueError("the sub-questions must differ from each other")
        return self


class RunPlanReviewed(Event, subject=subjects.RUN_PLAN_REVIEWED, type="run.plan_reviewed"):
    """A human's answer to a run waiting for its plan's review (the actor is the reviewer)."""

    payload: RunPlanReviewedPayload


class RunPlanRevisedPayload(Contract):
    review_id: str
    sub_questions: list[str] = Field(description="the plan the run goes on with")
    revised_by: str | None
    comment: str = ""
    edited: bool = Field(description="whether the sub-questions differ from the planner's")


class RunPlanRevised(Event, subject=subjects.RUN_PLAN_REVISED, type="run.plan_revised"):
    """The reviewed plan stands: the run searches these sub-questions."""

    payload: RunPlanRevisedPayload
