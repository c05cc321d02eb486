"""The reporter's lane: render the draft as Markdown, PDF and Word, store them, announce them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TypedDict

from contracts.guardrail import GuardrailTrippedPayload
from contracts.report import Artifact, ReportPublished, ReportPublishedPayload
from contracts.task import TaskDispatched
from contracts.work import Changes, ReportInput, ReportMethods, ReportOutput
from quarry_runtime.artifacts import ArtifactStore, report_key
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.worker import TaskError, Usage, WorkResult, lane
from services.reporter.length import EXCERPT_BY_LENGTH, fit_draft
from services.reporter.markdown import render_markdown
from services.reporter.pdf import render_pdf
from services.reporter.redaction import redact_draft
from services.reporter.structure import length_asked
from services.reporter.word import MEDIA_TYPE as DOCX_MEDIA_TYPE
from services.reporter.word import render_docx


class Shown(TypedDict):
    """What every format shows besides the draft (the renderers' shared keyword arguments)."""

    run_id: str
    generated_at: datetime
    changes: Changes | None
    methods: ReportMethods | None
    excerpt_chars: int
    asked: str


def subscriptions(bus: Bus, artifacts: ArtifactStore) -> list[Subscription]:
    async def execute(task: TaskDispatched) -> WorkResult:
        inp = ReportInput.model_validate(task.payload.input)
        # The dispatch time, not the wall clock: a re-run of the task renders identical bytes.
        generated_at = (
            task.occurred_at.astimezone(UTC) if task.occurred_at.tzinfo else task.occurred_at.replace(tzinfo=UTC)
        )
        draft, pii = redact_draft(inp.draft)
        trips: list[GuardrailTrippedPayload] = []
        if pii:
            action = "blocked" if inp.pii_policy == "block" else "redacted"
            trip = GuardrailTrippedPayload(guardrail="pii", where="report", action=action, counts=dict(pii))
            if inp.pii_policy == "block":
                kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(pii.items()))
                # The tenant's own policy stopped a report already researched: charged, not refunded.
                raise TaskError(
                    f"guardrail pii blocked publishing: the report contains {kinds}", trip=trip, fault="tenant"
                )
            trips.append(trip)
        draft = fit_draft(draft, inp.length, inp.target_words)
        shown = Shown(
            run_id=inp.run_id,
            generated_at=generated_at,
            changes=inp.changes,
            methods=inp.methods,
            excerpt_chars=EXCERPT_BY_LENGTH[inp.length],
            asked=length_asked(inp.length, inp.target_words),
        )
        # Rendering is CPU-bound (fonts, shaping, zipping): off the event loop, like the analyst's work.
        md = (await asyncio.to_thread(render_markdown, draft, **shown)).encode()
        pdf = await asyncio.to_thread(render_pdf, draft, **shown)
        docx = await asyncio.to_thread(render_docx, draft, **shown)
        # Each put is flushed to disk before the report is announced: a wait kept off the event loop.
        md_path, md_hash = await asyncio.to_thread(artifacts.put, report_key(task.tenant_id, inp.run_id, "md"), md)
        pdf_path, pdf_hash = await asyncio.to_thread(artifacts.put, report_key(task.tenant_id, inp.run_id, "pdf"), pdf)
        docx_path, docx_hash = await asyncio.to_thread(
            artifacts.put, report_key(task.tenant_id, inp.run_id, "docx"), docx
        )
        output = ReportOutput(
            pii_redacted=dict(pii),
            title=draft.title,
            markdown=Artifact(path=str(md_path), sha256=md_hash, media_type="text/markdown", size=len(md)),
            pdf=Artifact(path=str(pdf_path), sha256=pdf_hash, media_type="application/pdf", size=len(pdf)),
            docx=Artifact(path=str(docx_path), sha256=docx_hash, media_type=DOCX_MEDIA_TYPE, size=len(docx)),
        )
        published = ReportPublished.caused_by(
            task,
            ReportPublishedPayload(
                task_id=task.payload.task_id,
                title=output.title,
                markdown=output.markdown,
                pdf=output.pdf,
                docx=output.docx,
            ),
        )
        await bus.publish(published)
        return WorkResult(output=output.model_dump(), usage=[Usage(tool="publish_report")], trips=trips)

    return [lane(bus, "reporter", execute)]
