"""Follow-up questions on a completed run: ask, read the answer so far, stream it as it is written."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, Field, field_validator
from sse_starlette import EventSourceResponse, ServerSentEvent

from contracts.envelope import Actor, TraceContext
from contracts.ids import new_id
from contracts.question import QuestionAsked, QuestionAskedPayload, QuestionScope
from quarry_runtime.telemetry import current_traceparent
from services.gateway.api.bounds import MAX_OFFSET
from services.gateway.api.commands import publish
from services.gateway.api.deps import Components, ComponentsDep, StreamReader, requires
from services.gateway.application.runs import found_run
from services.gateway.errors import Conflict, NotFound
from services.gateway.readmodels.questions import SETTLED
from services.gateway.security import Principal

router = APIRouter(prefix="/v1/runs/{run_id}/questions", tags=["questions"])

SSE_IDLE_WAIT_S = 15.0
Asker = Annotated[Principal, requires("runs:ask")]
RunReader = Annotated[Principal, requires("runs:read")]


class QuestionCreate(BaseModel):
    question: str = Field(min_length=3, max_length=2000)
    scope: QuestionScope = Field(
        default="run", description="answer from the run's memory (`run`) or all the tenant's memory (`tenant`)"
    )

    @field_validator("question")
    @classmethod
    def _words(cls, value: str) -> str:
        text = " ".join(value.split())
        if len(text) < 3:
            raise ValueError("the question has no words")
        return text


class QuestionAccepted(BaseModel):
    question_id: str
    run_id: str
    status: str
    links: dict[str, str]


@router.post("", status_code=202)
async def ask_question(run_id: str, body: QuestionCreate, who: Asker, parts: ComponentsDep) -> QuestionAccepted:
    """Ask a follow-up question about a completed run; the answer is streamed as it is written."""
    view = await asyncio.to_thread(parts.store.run_view, who.tenant_id, run_id)
    if view is None:
        raise NotFound("run not found")
    if view["state"] != "completed":
        raise Conflict(f"questions are answered from a completed run's memory; the run is {view['state']}")
    question_id = new_id()
    event = QuestionAsked.create(
        QuestionAskedPayload(question_id=question_id, run_id=run_id, text=body.question, scope=body.scope),
        tenant_id=who.tenant_id,
        # The question's saga is correlated by its own id; the run it asks about is in the payload.
        run_id=question_id,
        actor=Actor(user_id=who.user_id, roles=list(who.roles)),
        trace=TraceContext(traceparent=current_traceparent()),
    )
    await publish(parts, event)
    base = f"/v1/runs/{run_id}/questions/{question_id}"
    return QuestionAccepted(
        question_id=question_id, run_id=run_id, status="asked", links={"self": base, "events": f"{base}/events"}
    )


@router.get("")
async def list_questions(
    run_id: str,
    who: RunReader,
    parts: ComponentsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """The run's follow-up questions and their answers, newest first."""
    await found_run(parts, who.tenant_id, run_id)
    found = await asyncio.to_thread(parts.store.questions.of_run, who.tenant_id, run_id, limit, offset)
    return {"questions": found, "limit": limit, "offset": offset}


@router.get("/{question_id}")
async def get_question(run_id: str, question_id: str, who: RunReader, parts: ComponentsDep) -> dict[str, Any]:
    """The question, its status and its answer so far (whole, with citations, once answered)."""
    return await _question(run_id, question_id, who.tenant_id, parts)


@router.get("/{question_id}/events")
async def stream_answer(
    run_id: str,
    question_id: str,
    who: StreamReader,
    parts: ComponentsDep,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """The answer as Server-Sent Events: a `part` event per piece as it is written (id: its
    number), then `answered` (the whole answer with its citations) or `failed`, then `end`.
    Resumes after Last-Event-ID. Authenticated like the run's event stream (header or ticket)."""
    await _question(run_id, question_id, who.tenant_id, parts)
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else -1

    async def events() -> AsyncIterator[ServerSentEvent]:
        nonlocal after
        while True:
            rows = await asyncio.to_thread(parts.store.questions.parts_after, question_id, after)
            sent = False
            for seq, text in rows:
                # Parts are sent in order without a gap: one redelivered late (its first delivery
                # failed) is written after those behind it, and resuming past it would lose it.
                if seq != after + 1:
                    break
                after, sent = seq, True
                yield ServerSentEvent(data=json.dumps({"seq": seq, "text": text}), event="part", id=str(seq))
            if sent:
                continue
            view = await asyncio.to_thread(parts.store.questions.view, who.tenant_id, run_id, question_id)
            if view is None or view["status"] in SETTLED:
                status = view["status"] if view else None
                # Settled: every part there is has been written; what a gap held back goes now.
                for seq, text in await asyncio.to_thread(parts.store.questions.parts_after, question_id, after):
                    after = seq
                    yield ServerSentEvent(data=json.dumps({"seq": seq, "text": text}), event="part", id=str(seq))
                if view is not None:
                    yield ServerSentEvent(data=json.dumps(view), event=status)
                yield ServerSentEvent(data=json.dumps({"status": status}), event="end")
                return
            await parts.feed.wait(SSE_IDLE_WAIT_S)

    return EventSourceResponse(events(), ping=10)


async def _question(run_id: str, question_id: str, tenant_id: str, parts: Components) -> dict[str, Any]:
    view = await asyncio.to_thread(parts.store.questions.view, tenant_id, run_id, question_id)
    if view is None:
        raise NotFound("question not found")
    return view
