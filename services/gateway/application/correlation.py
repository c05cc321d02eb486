"""The correlation view: every event of one run, across all services, in order, with the gaps.

Subjects carry no run id and the stream has no index by one, so the view never scans the stream:
the gateway's run log (its read model, one row per event of each run, by run id) says which
events the run has, of what type and when they occurred; each is then found in the stream by a
direct get of the first message on its type's subject stored from that time, checked by its
`Nats-Msg-Id` (the event id), reading on in widening batches when others came first, and the
same again from `CLOCK_SKEW` earlier when the producer's clock ran ahead. So a run of N events
costs one indexed query and N direct gets when the clocks agree and the subject is quiet, more
on a busy one, RUN_LOOKUPS at a time, whatever the stream holds. An event the stream no longer
holds (aged out) is shown from the log.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Final

from contracts import subjects
from services.gateway.adapters.jetstream_messages import JetStreamMessages, StoredMessage
from services.gateway.application.event_browser import event_view
from services.gateway.domain.event_query import gaps_s, subject_of_type
from services.gateway.errors import NotFound
from services.gateway.readmodels.store import GatewayStore

# How much earlier than its `occurred_at` an event may have been stored (clocks of two hosts).
CLOCK_SKEW: Final = timedelta(seconds=2)
NEAR_FIRST: Final = 8  # messages on the subject read past the first when others came first
NEAR_BATCH: Final = 512  # and at most, widening
RUN_LOOKUPS: Final = 16


async def _find(messages: JetStreamMessages, event_id: str, subject: str, since: datetime) -> StoredMessage | None:
    first = await messages.first_at(subjects.STREAM, since, subject)
    if first is None or first.headers.get("Nats-Msg-Id") == event_id:
        return first
    # Others came first (on a busy subject, or stored late): read on in batches that widen.
    seq, size, read = first.seq + 1, NEAR_FIRST, 0
    while read < NEAR_BATCH:
        near = await messages.batch(subjects.STREAM, seq, size, subject)
        found = next((m for m in near if m.headers.get("Nats-Msg-Id") == event_id), None)
        if found is not None or len(near) < size:
            return found
        seq, read, size = near[-1].seq + 1, read + len(near), min(4 * size, NEAR_BATCH)
    return None


async def _locate(
    messages: JetStreamMessages, event_id: str, event_type: str, occurred_at: datetime
) -> StoredMessage | None:
    """Stored at or after it occurred when the clocks agree (one get); else from a little before."""
    subject = subject_of_type(event_type) or ">"
    found = await _find(messages, event_id, subject, occurred_at)
    if found is not None and found.headers.get("Nats-Msg-Id") == event_id:
        return found
    found = await _find(messages, event_id, subject, occurred_at - CLOCK_SKEW)
    return found if found is not None and found.headers.get("Nats-Msg-Id") == event_id else None


async def correlation(
    store: GatewayStore, messages: JetStreamMessages, run_or_question: str, *, with_payload: bool
) -> dict[str, Any]:
    """The run's events (a question's run's, given a question id) in the order they were stored."""
    index = await asyncio.to_thread(store.run_event_index, run_or_question)
    run_id = run_or_question
    if not index:
        asked = await asyncio.to_thread(store.run_of_question, run_or_question)
        if asked is not None:
            run_id, index = asked, await asyncio.to_thread(store.run_event_index, asked)
    if not index:
        raise NotFound(f"no run or question {run_or_question} in the gateway's run log")
    limit = asyncio.Semaphore(RUN_LOOKUPS)

    async def one(event_id: str, event_type: str, occurred_at: str) -> StoredMessage | None:
        async with limit:
            return await _locate(messages, event_id, event_type, datetime.fromisoformat(occurred_at))

    found = await asyncio.gather(*(one(e, t, at) for e, t, at, _ in index))
    rows: list[dict[str, Any]] = []
    for (event_id, event_type, occurred_at, tenant_id), message in zip(index, found, strict=True):
        if message is not None:
            rows.append({**event_view(message, with_payload=with_payload), "in_stream": True})
        else:
            rows.append(
                {"event_id": event_id, "type": event_type, "occurred_at": occurred_at, "tenant_id": tenant_id}
                | {"run_id": run_id, "seq": None, "stored_at": None, "in_stream": False}
            )
    # Stored order where both are in the stream; an aged-out event keeps its place by its time.
    rows.sort(key=lambda r: (r["stored_at"] or datetime.fromisoformat(r["occurred_at"]), r["seq"] or 0))
    moments = [r["stored_at"] or datetime.fromisoformat(r["occurred_at"]) for r in rows]
    for row, gap in zip(rows, gaps_s(moments), strict=True):
        row["gap_s"] = gap
    services = sorted({r["subject"].split(".")[0] for r in rows if r.get("subject")})
    return {"run_id": run_id, "events": rows, "domains": services}
