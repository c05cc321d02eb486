"""Follow-up questions on a completed run: ask one, find it, stream its answer as it is written."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from sse_starlette import ServerSentEvent

from contracts.ids import new_id
from contracts.question import QuestionAsked, QuestionAskedPayload
from services.gateway.api.commands import publish
from services.gateway.api.models.questions import QuestionAccepted, QuestionCreate
from services.gateway.application.requested import requested
from services.gateway.application.runs import found_run
from services.gateway.errors import Conflict, NotFound
from services.gateway.readmodels.questions import SETTLED
from services.gateway.security import Principal

if TYPE_CHECKING:
    from services.gateway.api.deps import Components

SSE_IDLE_WAIT_S = 15.0


async def ask_question(parts: Components, who: Principal, run_id: str, body: QuestionCreate) -> QuestionAccepted:
    """Ask about a completed run: `question.asked` on the bus, answered from the run's memory."""
    view = await found_run(parts, who.tenant_id, run_id)
    if view["state"] != "completed":
        raise Conflict(f"questions are answered from a completed run's memory; the run is {view['state']}")
    question_id = new_id()
    asked = QuestionAskedPayload(question_id=question_id, run_id=run_id, text=body.question, scope=body.scope)
    # The question's saga is correlated by its own id; the run it asks about is in the payload.
    event = requested(QuestionAsked, asked, who, run_id=question_id)
    await publish(parts, event)
    base = f"/v1/runs/{run_id}/questions/{question_id}"
    return QuestionAccepted(
        question_id=question_id, run_id=run_id, status="asked", links={"self": base, "events": f"{base}/events"}
    )


async def found_question(parts: Components, tenant_id: str, run_id: str, question_id: str) -> dict[str, Any]:
    """The question and its answer so far (404 for another tenant's or an unknown one)."""
    view = await asyncio.to_thread(parts.store.questions.view, tenant_id, run_id, question_id)
    if view is None:
        raise NotFound("question not found")
    return view


async def answer_stream(
    parts: Components, who: Principal, run_id: str, question_id: str, after: int
) -> AsyncIterator[ServerSentEvent]:
    """The answer's parts after `after`, in order, then the settled answer and `end`."""
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
