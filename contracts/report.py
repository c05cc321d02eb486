"""Report artifacts published by the reporter."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from contracts import subjects
from contracts.envelope import Contract, Event

ReportLength = Literal["brief", "standard", "detailed"]
"""How much a report says: one finding per sub-question, the default few, or as many as hold up."""
TARGET_WORDS_MIN = 100
TARGET_WORDS_MAX = 10_000

Tone = Literal["neutral", "executive", "technical"]
"""How a report is framed: plainly, for a decision maker (key finding first, fewer sections), or for engineers."""
OUTLINE_MAX_SECTIONS = 20


class OutlineSection(Contract):
    """One heading a report is organised under, with a hint of what belongs there."""

    heading: str = Field(min_length=1, max_length=120)
    hint: str = Field(default="", max_length=500, description="what belongs under the heading; helps place findings")


TargetWords = Annotated[int, Field(ge=TARGET_WORDS_MIN, le=TARGET_WORDS_MAX)]
"""About how many words a report's findings run to (it takes precedence over its `ReportLength`)."""
Outline = Annotated[list[OutlineSection], Field(max_length=OUTLINE_MAX_SECTIONS)]
"""The headings a report is organised under, in order."""


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
    docx: Artifact | None = Field(default=None, description="the Word version (reporters before it rendered none)")


class ReportPublished(Event, subject=subjects.REPORT_PUBLISHED, type="report.published"):
    payload: ReportPublishedPayload
