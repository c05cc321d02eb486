"""The operators' event browser: the event stream newest first, one event, a live tail, and a
run's correlation view; checked and audited as every ops route (`OPERATOR`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from sse_starlette import EventSourceResponse

from services.gateway.api.bounds import MAX_SEQUENCE, sequence
from services.gateway.api.deps import ComponentsDep
from services.gateway.api.models.ops_events import CorrelationPublic, EventPagePublic, EventPublic
from services.gateway.api.ops_access import OPERATOR, BusMessagesDep, BusStateDep
from services.gateway.application import event_browser
from services.gateway.application.correlation import correlation
from services.gateway.domain.event_query import EventQuery, payload_filters
from services.gateway.security import Principal

router = APIRouter(prefix="/v1/ops", tags=["ops"], dependencies=[OPERATOR])
Seq = Annotated[int, Path(ge=1, le=MAX_SEQUENCE)]
Caller = Annotated[Principal, OPERATOR]  # the router's own check, made once a request
SUBJECT = "a filter subject of the event stream (`run.>`, `tool.v1.decided`); default: all"


def _utc(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _filters(
    request: Request,
    subject: Annotated[str | None, Query(description=SUBJECT, max_length=256)] = None,
    tenant: Annotated[str | None, Query(max_length=128)] = None,
    run: Annotated[str | None, Query(description="a run id, or a follow-up question's id", max_length=128)] = None,
    type: Annotated[str | None, Query(description="an event type, `tool.decided`", max_length=128)] = None,
) -> EventQuery:
    """The filters the list and the tail both take, `payload.<path>=<value>` ones included."""
    payload = payload_filters(list(request.query_params.multi_items()))
    return EventQuery(subject=subject, tenant=tenant, run=run, type=type, payload=payload)


Filters = Annotated[EventQuery, Depends(_filters)]


@router.get("/events")
async def list_events(
    state: BusStateDep,
    messages: BusMessagesDep,
    who: Caller,
    filters: Filters,
    since: Annotated[datetime | None, Query(description="stored at or after")] = None,
    until: Annotated[datetime | None, Query(description="stored before")] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_SEQUENCE, description="only sequences below this")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> EventPagePublic:
    """Events of the event stream, newest first; filter further on a payload field with
    `payload.<path>=<value>` (`payload.tool=fetch_url`). A page reads a bounded number of
    messages: when `next_before` is set, there may be older matches."""
    query = replace(filters, since=_utc(since), until=_utc(until))
    stream = await event_browser.event_stream_state(state)
    found = await event_browser.newest_first(
        messages, stream, query, before=before, limit=limit, with_payload=who.can("ops:payload")
    )
    return EventPagePublic.model_validate(found, from_attributes=True)


@router.get("/events/tail")
async def tail_events(
    state: BusStateDep,
    messages: BusMessagesDep,
    who: Caller,
    query: Filters,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_SEQUENCE, description="default: the newest now")] = None,
) -> EventSourceResponse:
    """Server-Sent Events: each new event matching the filters, as it is stored; its `id` is its
    sequence, so a reconnect with `Last-Event-ID` goes on where it stopped."""
    start = sequence(last_event_id) if last_event_id is not None else after
    if start is None:
        start = (await event_browser.event_stream_state(state)).last_seq
    with_payload = who.can("ops:payload")

    async def frames() -> AsyncIterator[dict[str, Any]]:
        async for event in event_browser.tail(messages, query, start, with_payload=with_payload):
            body = EventPublic.model_validate(event).model_dump_json()
            yield {"event": "event", "id": str(event["seq"]), "data": body}

    return EventSourceResponse(frames(), ping=10)


@router.get("/events/{seq}")
async def get_event(seq: Seq, messages: BusMessagesDep, who: Caller) -> EventPublic:
    """One event of the event stream by its sequence: envelope, headers, and payload if allowed."""
    found = await event_browser.one_event(messages, seq, with_payload=who.can("ops:payload"))
    return EventPublic.model_validate(found)


@router.get("/runs/{run_id}/events")
async def run_correlation(
    run_id: Annotated[str, Path(max_length=128)], parts: ComponentsDep, messages: BusMessagesDep, who: Caller
) -> CorrelationPublic:
    """Every event of one run (or of a follow-up question's run) across all services, in the
    order the stream stored them, with the gap before each."""
    found = await correlation(parts.store, messages, run_id, with_payload=who.can("ops:payload"))
    return CorrelationPublic.model_validate(found)
