"""Run lifecycle events (the saga's spine)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from contracts import subjects
from contracts.envelope import Contract, Event


class RunRequestedPayload(Contract):
    question: str = Field(min_length=3, max_length=2000)
    depth: int = Field(ge=1, le=3)
    max_sources: int = Field(ge=1, le=50)


class RunRequested(Event):
    SUBJECT: ClassVar[str] = subjects.RUN_REQUESTED
    TYPE: ClassVar[str] = "run.requested"
    type: Literal["run.requested"] = "run.requested"
    payload: RunRequestedPayload


class RunAdmittedPayload(Contract):
    credits_reserved: int = Field(ge=0)


class RunAdmitted(Event):
    SUBJECT: ClassVar[str] = subjects.RUN_ADMITTED
    TYPE: ClassVar[str] = "run.admitted"
    type: Literal["run.admitted"] = "run.admitted"
    payload: RunAdmittedPayload


class RunPlannedPayload(Contract):
    sub_questions: list[str]


class RunPlanned(Event):
    SUBJECT: ClassVar[str] = subjects.RUN_PLANNED
    TYPE: ClassVar[str] = "run.planned"
    type: Literal["run.planned"] = "run.planned"
    payload: RunPlannedPayload


class RunStepChangedPayload(Contract):
    step: str
    status: Literal["started", "finished", "failed", "denied"]
    detail: str = ""


class RunStepChanged(Event):
    SUBJECT: ClassVar[str] = subjects.RUN_STEP_CHANGED
    TYPE: ClassVar[str] = "run.step_changed"
    type: Literal["run.step_changed"] = "run.step_changed"
    payload: RunStepChangedPayload


class RunCompletedPayload(Contract):
    usage_event_ids: list[str]
    sources: int = Field(ge=0)
    report_markdown: str | None = None
    report_pdf: str | None = None


class RunCompleted(Event):
    SUBJECT: ClassVar[str] = subjects.RUN_COMPLETED
    TYPE: ClassVar[str] = "run.completed"
    type: Literal["run.completed"] = "run.completed"
    payload: RunCompletedPayload


class RunFailedPayload(Contract):
    reason: str
    step: str | None = None
    usage_event_ids: list[str] = Field(default_factory=list)


class RunFailed(Event):
    SUBJECT: ClassVar[str] = subjects.RUN_FAILED
    TYPE: ClassVar[str] = "run.failed"
    type: Literal["run.failed"] = "run.failed"
    payload: RunFailedPayload


class RunRejectedPayload(Contract):
    reason: str


class RunRejected(Event):
    SUBJECT: ClassVar[str] = subjects.RUN_REJECTED
    TYPE: ClassVar[str] = "run.rejected"
    type: Literal["run.rejected"] = "run.rejected"
    payload: RunRejectedPayload
