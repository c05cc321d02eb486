"""A run's event log: its past states, pages of it, and the live Server-Sent Events stream."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse

from services.gateway.api.bounds import MAX_SEQUENCE, sequence
from services.gateway.api.deps import ComponentsDep, RunReader, StreamReader
from services.gateway.api.models.runs import RunLogPublic, RunStatePublic, StreamTicketPublic
from services.gateway.application import run_log as logs
from services.gateway.application.runs import found_run

router = APIRouter(prefix="/v1/runs", tags=["runs"])


@router.get("/{run_id}/state", response_model_exclude_unset=True)
async def run_state_at(
    run_id: str,
    who: RunReader,
    parts: ComponentsDep,
    at: Annotated[str | None, Query(description="an event sequence number or an ISO-8601 time")] = None,
) -> RunStatePublic:
    """The run's state rebuilt from its event log alone, as it was at `at` (default: now)."""
    return RunStatePublic.model_validate(await logs.state_at(parts, who, run_id, at))


@router.get("/{run_id}/log")
async def run_log(
    run_id: str,
    who: RunReader,
    parts: ComponentsDep,
    after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> RunLogPublic:
    """A page of the run's events; pass the last `seq` as `after` for the next page. Until the
    report is published the draft is withheld from those who may not approve it."""
    return RunLogPublic.model_validate(await logs.log_page(parts, who, run_id, after, limit))


@router.post("/{run_id}/events/ticket", status_code=201)
async def stream_ticket(run_id: str, who: RunReader, parts: ComponentsDep) -> StreamTicketPublic:
    """A single-use ticket to open this run's event stream where headers cannot be sent
    (EventSource): `GET /v1/runs/{run_id}/events?ticket=...` within `expires_in` seconds."""
    return StreamTicketPublic.model_validate(await logs.issue_stream_ticket(parts, who, run_id))


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
    await found_run(parts, who.tenant_id, run_id)
    resumed = sequence(last_event_id)
    after = resumed if resumed is not None else (after_seq or 0)
    return EventSourceResponse(logs.run_stream(parts, who, run_id, after), ping=10)
