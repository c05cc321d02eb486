"""Follow-up questions on a completed run: ask, read the answer so far, stream it as it is written."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse

from services.gateway.api.bounds import MAX_OFFSET
from services.gateway.api.deps import ComponentsDep, RunAsker, RunReader, StreamReader
from services.gateway.api.models.questions import QuestionAccepted, QuestionCreate, QuestionListPublic, QuestionPublic
from services.gateway.application import questions
from services.gateway.application.runs import found_run

router = APIRouter(prefix="/v1/runs/{run_id}/questions", tags=["questions"])


@router.post("", status_code=202)
async def ask_question(run_id: str, body: QuestionCreate, who: RunAsker, parts: ComponentsDep) -> QuestionAccepted:
    """Ask a follow-up question about a completed run; the answer is streamed as it is written."""
    return await questions.ask_question(parts, who, run_id, body)


@router.get("")
async def list_questions(
    run_id: str,
    who: RunReader,
    parts: ComponentsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> QuestionListPublic:
    """The run's follow-up questions and their answers, newest first."""
    await found_run(parts, who.tenant_id, run_id)
    found = await asyncio.to_thread(parts.store.questions.of_run, who.tenant_id, run_id, limit, offset)
    return QuestionListPublic.model_validate({"questions": found, "limit": limit, "offset": offset})


@router.get("/{question_id}")
async def get_question(run_id: str, question_id: str, who: RunReader, parts: ComponentsDep) -> QuestionPublic:
    """The question, its status and its answer so far (whole, with citations, once answered)."""
    return QuestionPublic.model_validate(await questions.found_question(parts, who.tenant_id, run_id, question_id))


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
    await questions.found_question(parts, who.tenant_id, run_id, question_id)
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else -1
    return EventSourceResponse(questions.answer_stream(parts, who, run_id, question_id, after), ping=10)
