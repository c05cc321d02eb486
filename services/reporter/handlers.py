"""The reporter's lane: render the draft as Markdown and PDF, store both, announce them."""

from __future__ import annotations

from datetime import UTC

from contracts.guardrail import GuardrailTrippedPayload
from contracts.report import Artifact, ReportPublished, ReportPublishedPayload
from contracts.task import TaskDispatched
from contracts.work import ReportInput, ReportOutput
from quarry_runtime.artifacts import ArtifactStore
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.worker import TaskError, Usage, WorkResult, lane
from services.reporter.markdown import render_markdown
from services.reporter.pdf import render_pdf
from services.reporter.redaction import redact_draft


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
                raise TaskError(f"guardrail pii blocked publishing: the report contains {kinds}", trip=trip)
            trips.append(trip)
        md = render_markdown(draft, run_id=inp.run_id, generated_at=generated_at, changes=inp.changes).encode()
        pdf = render_pdf(draft, run_id=inp.run_id, generated_at=generated_at, changes=inp.changes)
        base = f"reports/{task.tenant_id}/{inp.run_id}"
        md_path, md_hash = artifacts.put(f"{base}/report.md", md)
        pdf_path, pdf_hash = artifacts.put(f"{base}/report.pdf", pdf)
        output = ReportOutput(
            pii_redacted=dict(pii),
            title=draft.title,
            markdown=Artifact(path=str(md_path), sha256=md_hash, media_type="text/markdown", size=len(md)),
            pdf=Artifact(path=str(pdf_path), sha256=pdf_hash, media_type="application/pdf", size=len(pdf)),
        )
        published = ReportPublished.caused_by(
            task,
            ReportPublishedPayload(
                task_id=task.payload.task_id, title=output.title, markdown=output.markdown, pdf=output.pdf
            ),
        )
        await bus.publish(published)
        return WorkResult(output=output.model_dump(), usage=[Usage(tool="publish_report")], trips=trips)

    return [lane(bus, "reporter", execute)]
