"""The operators' event browser: pages of the event stream newest first, one event, a live tail.

A page walks the stream backwards from `before` in windows (each one batch direct get, filtered
on the subject by JetStream), widening as it finds little, and stops when the page is full, the
`since` time is passed, or the scan budget (messages read, and time) is spent; `next_before`
then says where to go on. So a page costs at most `SCAN_BUDGET` messages or about
`TIME_BUDGET_S` (and one window) whatever the stream holds, and an unfiltered page of the
newest events one request. Nothing is cached: the stream is the record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

from contracts import subjects
from services.gateway.adapters.jetstream_messages import JetStreamMessages, StoredMessage
from services.gateway.adapters.jetstream_state import JetStreamState, StreamState
from services.gateway.domain.event_query import ALL, EventQuery, envelope_view, parsed
from services.gateway.errors import NotFound

SCAN_BUDGET: Final = 20_000  # messages a page may read before it answers what it found
TIME_BUDGET_S: Final = 0.1  # and the time: a sparse filter answers in parts rather than late
FIRST_WINDOW: Final = 256
MAX_WINDOW: Final = 2_048
TAIL_POLL_S: Final = 0.5
TAIL_BATCH: Final = 256


@dataclass(frozen=True)
class Page:
    events: list[dict[str, Any]]
    next_before: int | None  # pass as `before` for the next (older) page; None: nothing older
    scanned: int
    last_seq: int


def event_view(message: StoredMessage, *, with_payload: bool) -> dict[str, Any]:
    """One stored event as an operator sees it, with where and when the stream stored it."""
    return {
        "stream": message.stream,
        "seq": message.seq,
        "subject": message.subject,
        "stored_at": message.at,
        **envelope_view(message.data, message.headers, with_payload=with_payload),
    }


async def event_stream_state(state: JetStreamState) -> StreamState:
    for info in await state.streams():
        if info.config.name == subjects.STREAM:
            return info.state
    raise NotFound(f"no stream {subjects.STREAM}")


async def newest_first(
    messages: JetStreamMessages,
    stream: StreamState,
    query: EventQuery,
    *,
    before: int | None,
    limit: int,
    with_payload: bool,
    budget: int = SCAN_BUDGET,
    time_budget_s: float = TIME_BUDGET_S,
) -> Page:
    """Up to `limit` events matching `query`, newest first, all older than `before`."""
    subject = query.filter_subject()
    top = stream.last_seq if before is None else min(before - 1, stream.last_seq)
    if query.until is not None:
        after_until = await messages.first_at(subjects.STREAM, query.until)
        if after_until is not None:
            top = min(top, after_until.seq - 1)
    found: list[StoredMessage] = []
    # Matched on the subject and time alone, the newest `limit` sequences may be the whole page.
    first_window = max(FIRST_WINDOW, 2 * limit) if query.reads_envelopes() or subject != ALL else limit
    scanned, window, floor = 0, first_window, stream.first_seq
    next_before: int | None = None
    deadline = time.monotonic() + time_budget_s
    while top >= floor:
        if scanned >= budget or (scanned and time.monotonic() > deadline):
            next_before = top + 1
            break
        low = max(floor, top - window + 1)
        batch = [m for m in await messages.batch(subjects.STREAM, low, top - low + 1, subject) if m.seq <= top]
        scanned += top - low + 1
        passed_since = False
        for message in reversed(batch):
            if query.since is not None and message.at < query.since:
                passed_since = True
                break
            if query.matches(parsed(message.data) if query.reads_envelopes() else None, message.at):
                found.append(message)
                if len(found) == limit:
                    break
        if len(found) == limit:
            next_before = found[-1].seq if found[-1].seq > floor else None
            break
        if passed_since:
            break
        top, window = low - 1, min(2 * window, MAX_WINDOW)
    return Page(
        events=[event_view(m, with_payload=with_payload) for m in found],
        next_before=next_before,
        scanned=scanned,
        last_seq=stream.last_seq,
    )


async def one_event(messages: JetStreamMessages, seq: int, *, with_payload: bool) -> dict[str, Any]:
    message = await messages.by_seq(subjects.STREAM, seq)
    if message is None:
        raise NotFound(f"no event at sequence {seq} of {subjects.STREAM}")
    return event_view(message, with_payload=with_payload)


async def tail(
    messages: JetStreamMessages, query: EventQuery, after: int, *, with_payload: bool
) -> AsyncIterator[dict[str, Any]]:
    """Every event matching `query` stored after sequence `after`, as it is stored, for ever."""
    subject = query.filter_subject()
    cursor = after
    while True:
        batch = await messages.batch(subjects.STREAM, cursor + 1, TAIL_BATCH, subject)
        for message in batch:
            cursor = message.seq
            if query.matches(parsed(message.data) if query.reads_envelopes() else None, message.at):
                yield event_view(message, with_payload=with_payload)
        if len(batch) < TAIL_BATCH:
            await asyncio.sleep(TAIL_POLL_S)  # caught up: JetStream tells no one of a new message
