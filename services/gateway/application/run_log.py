"""Reading a run's event log: a page of it, the run as it was at a point, and the live stream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sse_starlette import ServerSentEvent

from services.gateway.api.bounds import MAX_SEQUENCE, sequence
from services.gateway.application.runs import found_run
from services.gateway.disclosure import for_reader, may_see_draft, view_for_reader
from services.gateway.errors import BadRequest, NotFound
from services.gateway.readmodels.run_view import is_settled
from services.gateway.security import (
    STREAM_TICKET_PREFIX,
    STREAM_TICKET_TTL_S,
    Principal,
    fingerprint,
    new_one_time_secret,
)

if TYPE_CHECKING:
    from services.gateway.api.deps import Components

SSE_IDLE_WAIT_S = 15.0
SSE_SETTLE_GRACE_S = 0.5


def _moment(at: str | None) -> tuple[int | None, datetime | None]:
    """`at` as an event sequence number or a time (400 for anything else)."""
    if at is None:
        return None, None
    if at.isdigit():
        seq = sequence(at)
        if seq is None:
            raise BadRequest(f"`at` must be an event sequence number of at most {MAX_SEQUENCE}")
        return seq, None
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("`at` must be an event sequence number or an ISO-8601 time") from None
    return None, moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def state_at(parts: Components, who: Principal, run_id: str, at: str | None) -> dict[str, Any]:
    """The run rebuilt from its log alone, as it was at `at` (an event sequence number or a time)."""
    seq, moment = _moment(at)
    state = await asyncio.to_thread(parts.store.run_state_at, who.tenant_id, run_id, seq=seq, at=moment)
    if state is None:
        raise NotFound("run not found")
    return view_for_reader(
        state, may_see_draft(who, await asyncio.to_thread(parts.store.run_view, who.tenant_id, run_id))
    )


async def log_page(parts: Components, who: Principal, run_id: str, after: int, limit: int) -> dict[str, Any]:
    """A page of the run's events after `after`, the draft withheld from those who may not see it."""
    draft_visible = may_see_draft(who, await found_run(parts, who.tenant_id, run_id))
    events = [
        row | {"event": for_reader(row["event"], draft_visible)}
        for row in await asyncio.to_thread(parts.store.run_log, who.tenant_id, run_id, after, limit)
    ]
    next_after = events[-1]["seq"] if len(events) == limit else None
    return {"run_id": run_id, "events": events, "next_after": next_after}


async def issue_stream_ticket(parts: Components, who: Principal, run_id: str) -> dict[str, Any]:
    """A single-use ticket to open this run's event stream without headers."""
    await found_run(parts, who.tenant_id, run_id)
    ticket = new_one_time_secret(STREAM_TICKET_PREFIX)
    now = time.time()
    await asyncio.to_thread(
        parts.store.accounts.issue_stream_ticket, fingerprint(ticket), who, run_id, now + STREAM_TICKET_TTL_S, now
    )
    return {"ticket": ticket, "expires_in": STREAM_TICKET_TTL_S, "url": f"/v1/runs/{run_id}/events?ticket={ticket}"}


async def run_stream(parts: Components, who: Principal, run_id: str, after: int) -> AsyncIterator[ServerSentEvent]:
    """The run's events after `after`, then live ones until the run is over and billed."""
    quiet_after_settled = False
    while True:
        rows = await asyncio.to_thread(parts.store.run_events_after, who.tenant_id, run_id, after)
        draft_visible = (
            may_see_draft(who, await asyncio.to_thread(parts.store.run_view, who.tenant_id, run_id)) if rows else False
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
