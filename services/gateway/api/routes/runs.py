"""Research runs: request, list, inspect, stream, and fetch the report."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response
from opentelemetry import trace
from pydantic import BaseModel, Field, StringConstraints
from sse_starlette import EventSourceResponse, ServerSentEvent

from contracts import subjects
from contracts.approval import ApprovalGiven, ApprovalPayload, ApprovalRejected
from contracts.billing import EntitlementsQuery
from contracts.envelope import Actor, TraceContext
from contracts.ids import new_id
from contracts.policy import PlanReviewQuery, PlanReviewReply
from contracts.report import TARGET_WORDS_MAX, TARGET_WORDS_MIN, ReportLength
from contracts.run import (
    MAX_SUB_QUESTIONS,
    SUB_QUESTION_MAX_CHARS,
    RunCancelRequested,
    RunCancelRequestedPayload,
    RunPlanReviewed,
    RunPlanReviewedPayload,
    RunRequested,
    RunRequestedPayload,
)
from contracts.work import SourceKind
from quarry_runtime.artifacts import ArtifactNotFound, ReportFormat, report_key
from quarry_runtime.guardrails import injection_findings
from quarry_runtime.telemetry import current_traceparent
from services.gateway.api.bounds import MAX_OFFSET, MAX_SEQUENCE, Question, sequence
from services.gateway.api.commands import publish
from services.gateway.api.deps import AuditDep, Components, ComponentsDep, StreamReader, requires
from services.gateway.api.errors import BadRequest, Conflict, Forbidden, NotFound, Unavailable
from services.gateway.api.requests import ask
from services.gateway.api.routes.datasets import restrict_to_datasets
from services.gateway.api.routes.templates import template_for_request
from services.gateway.disclosure import for_reader, may_see_draft, view_for_reader
from services.gateway.entitlements import run_problem
from services.gateway.readmodels.run_view import TERMINAL, is_settled
from services.gateway.security import (
    STREAM_TICKET_PREFIX,
    STREAM_TICKET_TTL_S,
    Principal,
    fingerprint,
    new_one_time_secret,
)
from services.gateway.templates import resolve

router = APIRouter(prefix="/v1/runs", tags=["runs"])
tracer = trace.get_tracer("quarry.gateway")

SSE_IDLE_WAIT_S = 15.0
MAX_SEARCH_CHARS = 200
SSE_SETTLE_GRACE_S = 0.5
DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
RunReader = Annotated[Principal, requires("runs:read")]
RunCreator = Annotated[Principal, requires("runs:create")]
RunCanceller = Annotated[Principal, requires("runs:cancel")]
Approver = Annotated[Principal, requires("runs:approve")]
PlanReviewer = Annotated[Principal, requires("runs:review_plan")]


class RunCreate(BaseModel):
    question: Question
    depth: int = Field(default=2, ge=1, le=3)
    max_sources: int = Field(default=8, ge=1, le=50)
    approval_required: bool | None = Field(
        default=None, description="stop for a human's approval before publishing; default: the tenant's setting"
    )
    sources: list[SourceKind] | None = Field(
        default=None, min_length=1, description="where to search (corpus, datasets, web); default: the tenant's setting"
    )
    length: ReportLength = Field(
        default="standard", description="how much the report says: brief, standard (the default) or detailed"
    )
    target_words: int | None = Field(
        default=None,
        ge=TARGET_WORDS_MIN,
        le=TARGET_WORDS_MAX,
        description="about how many words of findings the report should have; takes precedence over `length`",
    )
    datasets: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="names of the tenant's datasets to search, and only those of its documents;"
        " without `sources` the run then searches these datasets alone",
    )
    template_id: str | None = Field(
        default=None,
        max_length=64,
        description="a research template of the tenant: its settings apply where this request gives none",
    )
    review_plan: bool = Field(
        default=False,
        description="pause after planning (state `awaiting_plan_review`) until POST /v1/runs/{run_id}/plan"
        " continues with the sub-questions, edited or not, or cancels",
    )


class CancelCreate(BaseModel):
    reason: str = Field(default="cancelled by the user", max_length=500)


class ApprovalCreate(BaseModel):
    decision: Literal["approve", "reject"]
    comment: str = Field(default="", max_length=2000)


SubQuestion = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=SUB_QUESTION_MAX_CHARS)]


class PlanReviewCreate(BaseModel):
    action: Literal["continue", "cancel"]
    sub_questions: list[SubQuestion] | None = Field(
        default=None,
        max_length=max(MAX_SUB_QUESTIONS.values()),
        description="continue: the plan to run (the run's sub-questions edited, removed or added; at most"
        " the depth's number, see `plan_review.max_sub_questions`); omitted: the plan as it is. cancel: none",
    )
    comment: str = Field(default="", max_length=2000)


class RunAccepted(BaseModel):
    run_id: str
    state: str
    links: dict[str, str]


@router.post("", status_code=202)
async def request_run(body: RunCreate, who: RunCreator, parts: ComponentsDep) -> RunAccepted:
    """Accept a research question; the run proceeds asynchronously."""
    run_id = new_id()
    with tracer.start_as_current_span(
        "run.request", attributes={"quarry.run_id": run_id, "quarry.tenant_id": who.tenant_id}
    ):
        return await _request_run(run_id, body, who, parts)


async def _request_run(run_id: str, body: RunCreate, who: Principal, parts: ComponentsDep) -> RunAccepted:
    settings = await asyncio.to_thread(parts.store.tenant_settings, who.tenant_id)
    approval = settings["approval_required"] if body.approval_required is None else body.approval_required
    template = await template_for_request(parts, who.tenant_id, body.template_id)
    chosen = resolve(template, body.model_dump(), body.model_fields_set, fallback_sources=settings.get("sources"))
    chosen |= await restrict_to_datasets(parts, who.tenant_id, body.datasets, body.sources)
    # The plan's limits before the 202: refused here with the reason, no run is created.
    depth, max_sources = chosen["depth"], chosen["max_sources"]
    attachments = len(chosen.get("datasets") or [])
    query = EntitlementsQuery(tenant_id=who.tenant_id, depth=depth, max_sources=max_sources, attachments=attachments)
    if chosen.get("sources") is None:
        chosen["sources"] = await _default_sources(parts, who.tenant_id, query)
    sources = chosen["sources"]
    await parts.plan().check(query, run_problem(depth, max_sources, sources))
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
        actor=Actor(user_id=who.user_id, roles=list(who.roles)),
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


async def _default_sources(parts: Components, tenant_id: str, query: EntitlementsQuery) -> list[SourceKind] | None:
    """Nobody chose the sources: the corpus, and the tenant's uploads when there are some its plan
    lets a run read (`read_dataset`). Otherwise a run would ask policy to read nothing (a denied
    step on free, a human's approval of an empty read on pro). None leaves the choice to the
    orchestrator's default when billing cannot say what the plan allows."""
    if (await asyncio.to_thread(parts.store.datasets.usage, tenant_id))[1] == 0:
        return ["corpus"]
    try:
        plan = await parts.plan().get(query)
    except Unavailable:
        return None
    return ["corpus", "datasets"] if "read_dataset" in plan.tools else ["corpus"]


@router.get("")
async def list_runs(
    who: RunReader,
    parts: ComponentsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    q: Annotated[
        str | None, Query(max_length=MAX_SEARCH_CHARS, description="text the question or the report title contains")
    ] = None,
    state: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$", description="only runs in this state")] = None,
) -> dict[str, Any]:
    """The caller's tenant's runs, newest first; `q` searches the question and the report
    title (case-insensitive)."""
    text = q.strip() if q else None
    return {
        "runs": await asyncio.to_thread(
            parts.store.list_runs, who.tenant_id, limit, offset, q=text or None, state=state
        ),
        "limit": limit,
        "offset": offset,
    }


@router.get("/{run_id}")
async def get_run(run_id: str, who: RunReader, parts: ComponentsDep) -> dict[str, Any]:
    """State, steps, sources and cost of one run of the caller's tenant (the draft's sources
    only to approvers until the report is published)."""
    view = await asyncio.to_thread(parts.store.run_view, who.tenant_id, run_id)
    if view is None:
        raise NotFound("run not found")
    return view_for_reader(view, may_see_draft(who, view))


@router.post("/{run_id}/cancel", status_code=202)
async def cancel_run(run_id: str, body: CancelCreate, who: RunCanceller, parts: ComponentsDep) -> dict[str, str]:
    """Stop the run at its next step boundary; unused credits are refunded. Members may cancel
    the runs they requested; owners and admins any run of the tenant."""
    view = await _view(run_id, who.tenant_id, parts)
    if view.get("user_id") != who.user_id and not who.can("runs:cancel_any"):
        raise Forbidden("only the run's requester, an owner or an admin may cancel it")
    if view["state"] in TERMINAL:
        raise Conflict(f"the run is already {view['state']}")
    event = RunCancelRequested.create(
        RunCancelRequestedPayload(reason=body.reason),
        tenant_id=who.tenant_id,
        run_id=run_id,
        actor=Actor(user_id=who.user_id, roles=list(who.roles)),
    )
    await publish(parts, event)
    return {"run_id": run_id, "status": "cancel requested"}


@router.post("/{run_id}/approval", status_code=202)
async def decide_approval(run_id: str, body: ApprovalCreate, who: Approver, parts: ComponentsDep) -> dict[str, Any]:
    """Approve or reject what a waiting run asks for; who, when and why are recorded as events."""
    view = await _view(run_id, who.tenant_id, parts)
    pending = view.get("approval") or {}
    if view["state"] != "waiting_approval" or pending.get("status") != "pending":
        raise Conflict(f"the run is not waiting for an approval (state: {view['state']})")
    cls = ApprovalGiven if body.decision == "approve" else ApprovalRejected
    event = cls.create(
        ApprovalPayload(approval_id=pending.get("approval_id"), comment=body.comment),
        tenant_id=who.tenant_id,
        run_id=run_id,
        actor=Actor(user_id=who.user_id, roles=list(who.roles)),
    )
    await publish(parts, event)
    return {"run_id": run_id, "approval_id": pending.get("approval_id"), "decision": body.decision}


@router.post("/{run_id}/plan", status_code=202)
async def review_plan(
    run_id: str, body: PlanReviewCreate, who: PlanReviewer, parts: ComponentsDep, audit: AuditDep
) -> dict[str, Any]:
    """Continue a run waiting for its plan's review with the sub-questions (edited or not), or
    cancel it (unused credits are refunded). Who may is decided by the policy service's Cedar
    policies (action `review_plan`: the run's requester, the tenant's owners and admins); who,
    when and what are recorded in the run's log and the audit log."""
    view = await _view(run_id, who.tenant_id, parts)
    review = view.get("plan_review") or {}
    most = int(review.get("max_sub_questions") or MAX_SUB_QUESTIONS.get(view.get("depth") or 3, 6))
    sub_questions: list[str] = []
    if body.action == "cancel":
        if body.sub_questions:
            raise BadRequest("a cancelled plan takes no sub-questions")
    else:
        sub_questions = list(review.get("sub_questions") or []) if body.sub_questions is None else body.sub_questions
        if body.sub_questions is not None and not 1 <= len(sub_questions) <= most:
            raise BadRequest(f"the plan of this run holds 1 to {most} sub-questions, not {len(sub_questions)}")
        if len({" ".join(q.split()).casefold() for q in sub_questions}) != len(sub_questions):
            raise BadRequest("the sub-questions must differ from each other")
        # Screened as the question is: a sub-question becomes a search query and a model prompt.
        for i, sub_question in enumerate(sub_questions, 1):
            if injection_findings(sub_question):
                raise BadRequest(f"sub-question {i} reads as instructions to the model (prompt injection)")
    query = PlanReviewQuery(
        tenant_id=who.tenant_id,
        user_id=who.user_id,
        roles=list(who.roles),
        run_id=run_id,
        run_tenant_id=who.tenant_id,  # `_view` found the run in the caller's tenant
        requester_id=view.get("user_id"),
        sub_questions=len(sub_questions),
        max_sub_questions=most,
    )
    reply = await ask(
        parts, subjects.POLICY_PLAN_REVIEW, query, PlanReviewReply, who="the policy service", timeout_s=2.0
    )
    if reply.verdict is None:
        raise Unavailable(f"the policy service could not decide: {reply.error}")
    if reply.verdict.decision != "allow":
        raise Forbidden(f"policy {reply.verdict.policy_version}: " + "; ".join(reply.verdict.reasons))
    if view["state"] != "awaiting_plan_review" or review.get("status") != "pending":
        raise Conflict(f"the run is not waiting for a review of its plan (state: {view['state']})")
    if body.action == "continue" and not sub_questions:
        raise BadRequest("continuing needs at least one sub-question")
    event = RunPlanReviewed.create(
        RunPlanReviewedPayload(
            action=body.action, sub_questions=sub_questions, comment=body.comment, review_id=review.get("review_id")
        ),
        tenant_id=who.tenant_id,
        run_id=run_id,
        actor=Actor(user_id=who.user_id, roles=list(who.roles)),
        trace=TraceContext(traceparent=current_traceparent()),
    )
    await publish(parts, event)
    await audit(
        "run.plan_reviewed",
        run_id,
        action=body.action,
        sub_questions=sub_questions,
        planned=review.get("sub_questions") or [],
        comment=body.comment,
        event_id=event.event_id,
    )
    return {
        "run_id": run_id,
        "review_id": review.get("review_id"),
        "action": body.action,
        "sub_questions": sub_questions,
    }


@router.get("/{run_id}/state")
async def run_state_at(
    run_id: str,
    who: RunReader,
    parts: ComponentsDep,
    at: Annotated[str | None, Query(description="an event sequence number or an ISO-8601 time")] = None,
) -> dict[str, Any]:
    """The run's state rebuilt from its event log alone, as it was at `at` (default: now)."""
    seq: int | None = None
    moment: datetime | None = None
    if at is not None:
        if at.isdigit():
            seq = sequence(at)
            if seq is None:
                raise BadRequest(f"`at` must be an event sequence number of at most {MAX_SEQUENCE}")
        else:
            try:
                moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError:
                raise BadRequest("`at` must be an event sequence number or an ISO-8601 time") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    state = await asyncio.to_thread(parts.store.run_state_at, who.tenant_id, run_id, seq=seq, at=moment)
    if state is None:
        raise NotFound("run not found")
    return view_for_reader(
        state, may_see_draft(who, await asyncio.to_thread(parts.store.run_view, who.tenant_id, run_id))
    )


@router.get("/{run_id}/log")
async def run_log(
    run_id: str,
    who: RunReader,
    parts: ComponentsDep,
    after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """A page of the run's events; pass the last `seq` as `after` for the next page. Until the
    report is published the draft is withheld from those who may not approve it."""
    draft_visible = may_see_draft(who, await _view(run_id, who.tenant_id, parts))
    events = [
        row | {"event": for_reader(row["event"], draft_visible)}
        for row in await asyncio.to_thread(parts.store.run_log, who.tenant_id, run_id, after, limit)
    ]
    next_after = events[-1]["seq"] if len(events) == limit else None
    return {"run_id": run_id, "events": events, "next_after": next_after}


@router.post("/{run_id}/events/ticket", status_code=201)
async def stream_ticket(run_id: str, who: RunReader, parts: ComponentsDep) -> dict[str, Any]:
    """A single-use ticket to open this run's event stream where headers cannot be sent
    (EventSource): `GET /v1/runs/{run_id}/events?ticket=...` within `expires_in` seconds."""
    await _view(run_id, who.tenant_id, parts)
    ticket = new_one_time_secret(STREAM_TICKET_PREFIX)
    now = time.time()
    await asyncio.to_thread(
        parts.store.accounts.issue_stream_ticket, fingerprint(ticket), who, run_id, now + STREAM_TICKET_TTL_S, now
    )
    return {"ticket": ticket, "expires_in": STREAM_TICKET_TTL_S, "url": f"/v1/runs/{run_id}/events?ticket={ticket}"}


@router.get("/{run_id}/events")
async def stream_events(
    run_id: str,
    who: StreamReader,
    parts: ComponentsDep,
    last_event_id: Annotated[str | None, Header()] = None,
    after_seq: Annotated[
        int | None,
        Query(
            alias="after",
            ge=0,
            le=MAX_SEQUENCE,
            description="resume after this event id (when Last-Event-ID cannot be sent)",
        ),
    ] = None,
) -> EventSourceResponse:
    """The run's events as Server-Sent Events: replayed from the start (or after Last-Event-ID,
    or `after`), then live until the run is over and billed. Authenticated by the Authorization
    header or a stream ticket (`?ticket=`, see POST .../events/ticket)."""
    if await asyncio.to_thread(parts.store.run_view, who.tenant_id, run_id) is None:
        raise NotFound("run not found")
    resumed = sequence(last_event_id)
    after = resumed if resumed is not None else (after_seq or 0)

    async def events() -> AsyncIterator[ServerSentEvent]:
        nonlocal after
        quiet_after_settled = False
        while True:
            rows = await asyncio.to_thread(parts.store.run_events_after, who.tenant_id, run_id, after)
            draft_visible = (
                may_see_draft(who, await asyncio.to_thread(parts.store.run_view, who.tenant_id, run_id))
                if rows
                else False
            )
            for seq, kind, data in rows:
                after = seq
                if kind in ("tool.requested", "task.dispatched", "task.succeeded"):
                    data = json.dumps(for_reader(json.loads(data), draft_visible), separators=(",", ":"))
                yield ServerSentEvent(data=data, event=kind, id=str(seq))
            if rows:
                quiet_after_settled = False
                continue
            view = await asyncio.to_thread(parts.store.run_view, who.tenant_id, run_id)
            if view is None or (is_settled(view) and quiet_after_settled):
                yield ServerSentEvent(data=json.dumps({"state": view["state"] if view else None}), event="end")
                return
            if view is not None and is_settled(view):
                # Each kind of event reaches the gateway through its own consumer, so a report or
                # guardrail event can land just after the run's end: give stragglers a moment.
                quiet_after_settled = True
                await parts.feed.wait(SSE_SETTLE_GRACE_S)
                continue
            await parts.feed.wait(SSE_IDLE_WAIT_S)

    return EventSourceResponse(events(), ping=10)


@router.get("/{run_id}/report.md")
async def report_markdown(run_id: str, who: RunReader, parts: ComponentsDep) -> Response:
    """The run's report as Markdown."""
    data = await _artifact(run_id, who.tenant_id, "markdown", parts)
    return Response(data, media_type="text/markdown; charset=utf-8")


@router.get("/{run_id}/report.pdf")
async def report_pdf(run_id: str, who: RunReader, parts: ComponentsDep) -> Response:
    """The run's report as PDF."""
    data = await _artifact(run_id, who.tenant_id, "pdf", parts)
    return Response(
        data, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="quarry-{run_id}.pdf"'}
    )


@router.get("/{run_id}/report.docx")
async def report_docx(run_id: str, who: RunReader, parts: ComponentsDep) -> Response:
    """The run's report as a Word document."""
    data = await _artifact(run_id, who.tenant_id, "docx", parts)
    return Response(
        data,
        media_type=DOCX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="quarry-{run_id}.docx"'},
    )


async def _view(run_id: str, tenant_id: str, parts: Components) -> dict[str, Any]:
    view = await asyncio.to_thread(parts.store.run_view, tenant_id, run_id)
    if view is None:
        raise NotFound("run not found")
    return view


_FORMAT: dict[str, ReportFormat] = {"markdown": "md", "pdf": "pdf", "docx": "docx"}


async def _artifact(run_id: str, tenant_id: str, kind: str, parts: ComponentsDep) -> bytes:
    view = await asyncio.to_thread(parts.store.run_view, tenant_id, run_id)
    if view is None:
        raise NotFound("run not found")
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
