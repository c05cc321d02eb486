"""Research runs: request, list, inspect, stream, and fetch the report."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from opentelemetry import trace
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse, ServerSentEvent

from contracts.envelope import Actor, TraceContext
from contracts.ids import new_id
from contracts.run import RunRequested, RunRequestedPayload
from quarry_runtime.telemetry import current_traceparent
from services.gateway.api.deps import ComponentsDep, CurrentPrincipal
from services.gateway.api.errors import NotFound, Unavailable
from services.gateway.readmodel import is_settled

router = APIRouter(prefix="/v1/runs", tags=["runs"])
tracer = trace.get_tracer("quarry.gateway")

SSE_IDLE_WAIT_S = 15.0


class RunCreate(BaseModel):
    question: str = Field(min_length=3, max_length=2000)
    depth: int = Field(default=2, ge=1, le=3)
    max_sources: int = Field(default=8, ge=1, le=50)


class RunAccepted(BaseModel):
    run_id: str
    state: str
    links: dict[str, str]


@router.post("", status_code=202)
async def request_run(body: RunCreate, who: CurrentPrincipal, parts: ComponentsDep) -> RunAccepted:
    """Accept a research question; the run proceeds asynchronously."""
    run_id = new_id()
    with tracer.start_as_current_span(
        "run.request", attributes={"quarry.run_id": run_id, "quarry.tenant_id": who.tenant_id}
    ):
        return await _request_run(run_id, body, who, parts)


async def _request_run(run_id: str, body: RunCreate, who: CurrentPrincipal, parts: ComponentsDep) -> RunAccepted:
    event = RunRequested.create(
        RunRequestedPayload(question=body.question.strip(), depth=body.depth, max_sources=body.max_sources),
        tenant_id=who.tenant_id,
        run_id=run_id,
        actor=Actor(user_id=who.user_id, roles=list(who.roles)),
        trace=TraceContext(traceparent=current_traceparent()),
    )
    try:
        await parts.bus.publish(event)
    except Exception as exc:
        raise Unavailable(f"the event bus did not accept the run: {exc}") from exc
    parts.store.record_run_event(event)
    base = f"/v1/runs/{run_id}"
    links = {
        "self": base,
        "events": f"{base}/events",
        "report_md": f"{base}/report.md",
        "report_pdf": f"{base}/report.pdf",
    }
    return RunAccepted(run_id=run_id, state="requested", links=links)


@router.get("")
async def list_runs(
    who: CurrentPrincipal,
    parts: ComponentsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """The caller's tenant's runs, newest first."""
    return {"runs": parts.store.list_runs(who.tenant_id, limit, offset), "limit": limit, "offset": offset}


@router.get("/{run_id}")
async def get_run(run_id: str, who: CurrentPrincipal, parts: ComponentsDep) -> dict[str, Any]:
    """State, steps, sources and cost of one run of the caller's tenant."""
    view = parts.store.run_view(who.tenant_id, run_id)
    if view is None:
        raise NotFound("run not found")
    return view


@router.get("/{run_id}/events")
async def stream_events(
    run_id: str,
    who: CurrentPrincipal,
    parts: ComponentsDep,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """The run's events as Server-Sent Events: replayed from the start (or after
    Last-Event-ID), then live until the run is over and billed."""
    if parts.store.run_view(who.tenant_id, run_id) is None:
        raise NotFound("run not found")
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0

    async def events() -> AsyncIterator[ServerSentEvent]:
        nonlocal after
        while True:
            rows = parts.store.run_events_after(who.tenant_id, run_id, after)
            for seq, kind, data in rows:
                after = seq
                yield ServerSentEvent(data=data, event=kind, id=str(seq))
            if rows:
                continue
            view = parts.store.run_view(who.tenant_id, run_id)
            if view is None or is_settled(view):
                yield ServerSentEvent(data=json.dumps({"state": view["state"] if view else None}), event="end")
                return
            await parts.feed.wait(SSE_IDLE_WAIT_S)

    return EventSourceResponse(events(), ping=10)


@router.get("/{run_id}/report.md")
async def report_markdown(run_id: str, who: CurrentPrincipal, parts: ComponentsDep) -> Response:
    """The run's report as Markdown."""
    data = _artifact(run_id, who.tenant_id, "markdown", parts)
    return Response(data, media_type="text/markdown; charset=utf-8")


@router.get("/{run_id}/report.pdf")
async def report_pdf(run_id: str, who: CurrentPrincipal, parts: ComponentsDep) -> Response:
    """The run's report as PDF."""
    data = _artifact(run_id, who.tenant_id, "pdf", parts)
    return Response(
        data, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="quarry-{run_id}.pdf"'}
    )


def _artifact(run_id: str, tenant_id: str, kind: str, parts: ComponentsDep) -> bytes:
    view = parts.store.run_view(tenant_id, run_id)
    if view is None:
        raise NotFound("run not found")
    report = view.get("report")
    if not report or not report.get(kind):
        raise NotFound(f"the run has no report yet (state: {view['state']})")
    artifact = report[kind]
    return parts.artifacts.get(artifact["path"], artifact["sha256"])
