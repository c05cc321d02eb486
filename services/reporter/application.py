"""The reporter's use case: render a run's draft as Markdown, PDF and Word, store the files, announce them."""

from __future__ import annotations

import asyncio
from datetime import UTC

from contracts.guardrail import GuardrailTrippedPayload
from contracts.task import TaskDispatched
from contracts.work import ReportInput, ReportOutput
from quarry_runtime.artifacts import ArtifactStore, report_key
from quarry_runtime.bus import Bus
from quarry_runtime.worker import Usage, WorkResult
from services.reporter.domain.errors import PiiBlocked
from services.reporter.domain.layout import RenderOptions
from services.reporter.domain.length import EXCERPT_BY_LENGTH, fit_draft
from services.reporter.domain.markdown import render_markdown
from services.reporter.domain.redaction import redact_draft
from services.reporter.domain.structure import length_asked
from services.reporter.pdf import render_pdf
from services.reporter.translate import artifact, pii_trip, report_published
from services.reporter.word import MEDIA_TYPE as DOCX_MEDIA_TYPE
from services.reporter.word import render_docx


async def publish_report(task: TaskDispatched, bus: Bus, artifacts: ArtifactStore) -> WorkResult:
    """Render, store and announce one report; `PiiBlocked` when the tenant's policy stops it."""
    inp = ReportInput.model_validate(task.payload.input)
    # The dispatch time, not the wall clock: a re-run of the task renders identical bytes.
    generated_at = task.occurred_at.astimezone(UTC) if task.occurred_at.tzinfo else task.occurred_at.replace(tzinfo=UTC)
    draft, pii = redact_draft(inp.draft)
    trips: list[GuardrailTrippedPayload] = []
    if pii:
        if inp.pii_policy == "block":
            raise PiiBlocked(pii)
        trips.append(pii_trip(pii, blocked=False))
    draft = fit_draft(draft, inp.length, inp.target_words)
    options = RenderOptions(
        run_id=inp.run_id,
        generated_at=generated_at,
        changes=inp.changes,
        methods=inp.methods,
        excerpt_chars=EXCERPT_BY_LENGTH[inp.length],
        asked=length_asked(inp.length, inp.target_words),
    )
    # Rendering is CPU-bound (fonts, shaping, zipping): off the event loop, like the analyst's work.
    md = (await asyncio.to_thread(render_markdown, draft, options)).encode()
    pdf = await asyncio.to_thread(render_pdf, draft, options)
    docx = await asyncio.to_thread(render_docx, draft, options)
    # Each put is flushed to disk before the report is announced: a wait kept off the event loop.
    md_path, md_hash = await asyncio.to_thread(artifacts.put, report_key(task.tenant_id, inp.run_id, "md"), md)
    pdf_path, pdf_hash = await asyncio.to_thread(artifacts.put, report_key(task.tenant_id, inp.run_id, "pdf"), pdf)
    docx_path, docx_hash = await asyncio.to_thread(artifacts.put, report_key(task.tenant_id, inp.run_id, "docx"), docx)
    output = ReportOutput(
        pii_redacted=dict(pii),
        title=draft.title,
        markdown=artifact(md_path, md_hash, "text/markdown", md),
        pdf=artifact(pdf_path, pdf_hash, "application/pdf", pdf),
        docx=artifact(docx_path, docx_hash, DOCX_MEDIA_TYPE, docx),
    )
    await bus.publish(report_published(task, output))
    return WorkResult(output=output.model_dump(), usage=[Usage(tool="publish_report")], trips=trips)
