"""Lookup from subject to event model, and parsing of raw messages into events."""

from __future__ import annotations

from contracts import subjects
from contracts.approval import ApprovalGiven, ApprovalRejected
from contracts.credits import (
    BudgetTierChanged,
    CreditsAdjusted,
    CreditsDenied,
    CreditsExpired,
    CreditsGranted,
    CreditsPurchased,
    CreditsRefunded,
    CreditsReserved,
    CreditsSettled,
    PlanChanged,
)
from contracts.document import (
    DatasetCreated,
    DatasetDeleted,
    DocumentIndexed,
    DocumentProgress,
    DocumentRejected,
    DocumentUploaded,
)
from contracts.envelope import Event
from contracts.guardrail import GuardrailTripped
from contracts.monitor import MonitorChanged, MonitorCreated, MonitorFired, MonitorScheduled
from contracts.policy import PolicyActivated, PolicyPublished, PolicyRejected
from contracts.question import QuestionAnswered, QuestionAnswerPart, QuestionAsked, QuestionFailed
from contracts.report import ReportPublished
from contracts.run import (
    RunAdmitted,
    RunAwaitingPlanReview,
    RunCancelled,
    RunCancelRequested,
    RunCompleted,
    RunExpired,
    RunFailed,
    RunPlanned,
    RunPlanReviewed,
    RunPlanRevised,
    RunRejected,
    RunRequested,
    RunResumed,
    RunStepChanged,
    RunWaitingApproval,
)
from contracts.task import TaskDispatched, TaskFailed, TaskSucceeded
from contracts.timer import TimerFired
from contracts.tool import ToolDecided, ToolRequested
from contracts.usage import UsageRecorded

EVENT_TYPES: tuple[type[Event], ...] = (
    RunRequested,
    RunAdmitted,
    RunPlanned,
    RunStepChanged,
    RunCompleted,
    RunFailed,
    RunRejected,
    RunCancelRequested,
    RunCancelled,
    RunWaitingApproval,
    RunResumed,
    RunExpired,
    RunAwaitingPlanReview,
    RunPlanReviewed,
    RunPlanRevised,
    ApprovalGiven,
    ApprovalRejected,
    TimerFired,
    MonitorCreated,
    MonitorChanged,
    MonitorScheduled,
    MonitorFired,
    GuardrailTripped,
    CreditsGranted,
    CreditsReserved,
    CreditsDenied,
    CreditsSettled,
    CreditsRefunded,
    CreditsPurchased,
    CreditsExpired,
    CreditsAdjusted,
    BudgetTierChanged,
    PlanChanged,
    ToolRequested,
    ToolDecided,
    PolicyPublished,
    PolicyActivated,
    PolicyRejected,
    TaskDispatched,
    TaskSucceeded,
    TaskFailed,
    UsageRecorded,
    ReportPublished,
    DocumentUploaded,
    DocumentIndexed,
    DocumentRejected,
    DocumentProgress,
    DatasetCreated,
    DatasetDeleted,
    QuestionAsked,
    QuestionAnswerPart,
    QuestionAnswered,
    QuestionFailed,
)

_BY_TYPE: dict[str, type[Event]] = {cls.TYPE: cls for cls in EVENT_TYPES}


def event_type_for_subject(subject: str) -> type[Event]:
    """The model published on `subject` (a role lane maps to TaskDispatched)."""
    if subject.startswith(subjects.TASK_DISPATCHED + ".") or subject == subjects.TASK_DISPATCHED:
        return TaskDispatched
    for cls in EVENT_TYPES:
        if subject == cls.SUBJECT:
            return cls
    raise KeyError(f"no event is published on subject {subject!r}")


def parse_event(data: bytes | str) -> Event:
    """Parse any envelope by its `type` field; raises pydantic.ValidationError or KeyError."""
    head = Event.model_validate_json(data)
    cls = _BY_TYPE.get(head.type)
    if cls is None:
        raise KeyError(f"unknown event type {head.type!r}")
    return cls.model_validate_json(data)
