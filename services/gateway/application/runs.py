"""Run use cases: admit a research question, find a run, cancel it, decide its approval."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from contracts.approval import ApprovalGiven, ApprovalPayload, ApprovalRejected
from contracts.billing import EntitlementsQuery
from contracts.envelope import TraceContext
from contracts.run import RunCancelRequested, RunCancelRequestedPayload, RunRequested, RunRequestedPayload
from contracts.work import SourceKind
from quarry_runtime.artifacts import ArtifactNotFound, ReportFormat, report_key
from quarry_runtime.telemetry import current_traceparent
from services.gateway.api.commands import publish
from services.gateway.api.models.runs import ApprovalCreate, CancelCreate, RunAccepted, RunCreate
from services.gateway.application.datasets import restrict_to_datasets
from services.gateway.application.templates import template_for_request
from services.gateway.entitlements import run_problem
from services.gateway.errors import Conflict, Forbidden, NotFound, Unavailable
from services.gateway.readmodels.run_view import TERMINAL
from services.gateway.security import Principal
from services.gateway.templates import resolve

if TYPE_CHECKING:
    from services.gateway.api.deps import Components

_FORMAT: dict[str, ReportFormat] = {"markdown": "md", "pdf": "pdf", "docx": "docx"}


async def request_run(parts: Components, who: Principal, run_id: str, body: RunCreate) -> RunAccepted:
    """Admit a research question: the tenant's settings and template, the plan's limits, then
    `run.requested` on the bus; refused with the reason before anything is created."""
    settings, has_documents = await parts.reads(_admission_reads, parts, who.tenant_id)
    approval = settings["approval_required"] if body.approval_required is None else body.approval_required
    template = await template_for_request(parts, who.tenant_id, body.template_id)
    chosen = resolve(template, body.model_dump(), body.model_fields_set, fallback_sources=settings.get("sources"))
    chosen |= await restrict_to_datasets(parts, who.tenant_id, body.datasets, body.sources)
    depth, max_sources = chosen["depth"], chosen["max_sources"]
    attachments = len(chosen.get("datasets") or [])
    query = EntitlementsQuery(tenant_id=who.tenant_id, depth=depth, max_sources=max_sources, attachments=attachments)
    if chosen.get("sources") is None:
        chosen["sources"] = await _default_sources(parts, has_documents, query)
    await parts.plan().check(query, run_problem(depth, max_sources, chosen["sources"]))
    event = RunRequested.create(
        RunRequestedPayload(
            question=body.question.strip(),
            approval_required=approval,
            approval_timeout_s=settings["approval_timeout_s"],
            pii_policy=settings["pii_policy"],
            review_plan=body.review_plan,
            **chosen,
        ),
        tenant_id=who.tenant_id,
        run_id=run_id,
        actor=who.actor(),
        trace=TraceContext(traceparent=current_traceparent()),
    )
    await publish(parts, event)
    base = f"/v1/runs/{run_id}"
    links = {
        "self": base,
        "events": f"{base}/events",
        "report_md": f"{base}/report.md",
        "report_pdf": f"{base}/report.pdf",
        "report_docx": f"{base}/report.docx",
    }
    return RunAccepted(run_id=run_id, state="requested", links=links)


def _admission_reads(parts: Components, tenant_id: str) -> tuple[dict[str, Any], bool]:
    """The tenant's settings, and whether it keeps documents: one trip off the event loop."""
    return parts.store.tenant_settings(tenant_id), parts.store.datasets.has_documents(tenant_id)


async def _default_sources(parts: Components, has_documents: bool, query: EntitlementsQuery) -> list[SourceKind] | None:
    """Nobody chose the sources: the corpus, and the tenant's uploads when there are some its plan
    lets a run read (`read_dataset`). Otherwise a run would ask policy to read nothing (a denied
    step on free, a human's approval of an empty read on pro). None leaves the choice to the
    orchestrator's default when billing cannot say what the plan allows."""
    if not has_documents:
        return ["corpus"]
    try:
        plan = await parts.plan().get(query)
    except Unavailable:
        return None
    return ["corpus", "datasets"] if "read_dataset" in plan.tools else ["corpus"]


async def found_run(parts: Components, tenant_id: str, run_id: str) -> dict[str, Any]:
    """The run's view (404 for another tenant's run or an unknown one)."""
    view = await asyncio.to_thread(parts.store.run_view, tenant_id, run_id)
    if view is None:
        raise NotFound("run not found")
    return view


async def cancel_run(parts: Components, who: Principal, run_id: str, body: CancelCreate) -> dict[str, str]:
    """Ask the run to stop at its next step boundary (its requester, or whoever may cancel any run)."""
    view = await found_run(parts, who.tenant_id, run_id)
    if view.get("user_id") != who.user_id and not who.can("runs:cancel_any"):
        raise Forbidden("only the run's requester, an owner or an admin may cancel it")
    if view["state"] in TERMINAL:
        raise Conflict(f"the run is already {view['state']}")
    event = RunCancelRequested.create(
        RunCancelRequestedPayload(reason=body.reason), tenant_id=who.tenant_id, run_id=run_id, actor=who.actor()
    )
    await publish(parts, event)
    return {"run_id": run_id, "status": "cancel requested"}


async def decide_approval(parts: Components, who: Principal, run_id: str, body: ApprovalCreate) -> dict[str, Any]:
    """Approve or reject what a waiting run asks for, as an event naming who decided."""
    view = await found_run(parts, who.tenant_id, run_id)
    pending = view.get("approval") or {}
    if view["state"] != "waiting_approval" or pending.get("status") != "pending":
        raise Conflict(f"the run is not waiting for an approval (state: {view['state']})")
    cls = ApprovalGiven if body.decision == "approve" else ApprovalRejected
    event = cls.create(
        ApprovalPayload(approval_id=pending.get("approval_id"), comment=body.comment),
        tenant_id=who.tenant_id,
        run_id=run_id,
        actor=who.actor(),
    )
    await publish(parts, event)
    return {"run_id": run_id, "approval_id": pending.get("approval_id"), "decision": body.decision}


async def report_artifact(parts: Components, tenant_id: str, run_id: str, kind: str) -> bytes:
    """The bytes of the run's report in one format (404 until it exists)."""
    view = await found_run(parts, tenant_id, run_id)
    report = view.get("report")
    if not report:
        raise NotFound(f"the run has no report yet (state: {view['state']})")
    if not report.get(kind):
        raise NotFound(f"the run's report has no {kind} version (it was rendered before that format existed)")
    # The place comes from the ids the caller was authorised for, never from the event's `path`;
    # the event's hash still has to match, so a report rendered again is not served stale.
    try:
        return parts.artifacts.get(report_key(tenant_id, run_id, _FORMAT[kind]), str(report[kind]["sha256"]))
    except (ArtifactNotFound, ValueError) as exc:
        # ValueError: an id that names no place, or a file that is not the one the event published.
        raise NotFound(f"the run's {kind} report is not in the artifact store") from exc
