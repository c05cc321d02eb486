"""The reporter's stored files -> the contracts that announce them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from contracts.guardrail import GuardrailTrippedPayload
from contracts.report import Artifact, ReportPublished, ReportPublishedPayload
from contracts.task import TaskDispatched
from contracts.work import ReportOutput


def artifact(path: Path, sha256: str, media_type: str, body: bytes) -> Artifact:
    """A stored rendering as the contract names it."""
    return Artifact(path=str(path), sha256=sha256, media_type=media_type, size=len(body))


def pii_trip(found: Counter[str], *, blocked: bool) -> GuardrailTrippedPayload:
    """The guardrail event for personal data found in a report."""
    action = "blocked" if blocked else "redacted"
    return GuardrailTrippedPayload(guardrail="pii", where="report", action=action, counts=dict(found))


def report_published(task: TaskDispatched, output: ReportOutput) -> ReportPublished:
    """The announcement of a report task's stored files."""
    return ReportPublished.caused_by(
        task,
        ReportPublishedPayload(
            task_id=task.payload.task_id,
            title=output.title,
            markdown=output.markdown,
            pdf=output.pdf,
            docx=output.docx,
        ),
    )
