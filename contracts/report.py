"""Report artifacts published by the reporter."""

from __future__ import annotations

from typing import ClassVar, Literal

from contracts import subjects
from contracts.envelope import Contract, Event


class Artifact(Contract):
    path: str
    sha256: str
    media_type: str
    size: int


class ReportPublishedPayload(Contract):
    task_id: str
    title: str
    markdown: Artifact
    pdf: Artifact


class ReportPublished(Event):
    SUBJECT: ClassVar[str] = subjects.REPORT_PUBLISHED
    TYPE: ClassVar[str] = "report.published"
    type: Literal["report.published"] = "report.published"
    payload: ReportPublishedPayload
