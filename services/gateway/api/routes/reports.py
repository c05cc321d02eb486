"""A run's report, as Markdown, PDF or a Word document."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.gateway.api.deps import ComponentsDep, RunReader
from services.gateway.application.runs import report_artifact

router = APIRouter(prefix="/v1/runs", tags=["runs"])
DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@router.get("/{run_id}/report.md")
async def report_markdown(run_id: str, who: RunReader, parts: ComponentsDep) -> Response:
    """The run's report as Markdown."""
    data = await report_artifact(parts, who.tenant_id, run_id, "markdown")
    return Response(data, media_type="text/markdown; charset=utf-8")


@router.get("/{run_id}/report.pdf")
async def report_pdf(run_id: str, who: RunReader, parts: ComponentsDep) -> Response:
    """The run's report as PDF."""
    data = await report_artifact(parts, who.tenant_id, run_id, "pdf")
    return Response(
        data, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="quarry-{run_id}.pdf"'}
    )


@router.get("/{run_id}/report.docx")
async def report_docx(run_id: str, who: RunReader, parts: ComponentsDep) -> Response:
    """The run's report as a Word document."""
    data = await report_artifact(parts, who.tenant_id, run_id, "docx")
    return Response(
        data,
        media_type=DOCX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="quarry-{run_id}.docx"'},
    )
