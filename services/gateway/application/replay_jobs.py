"""The operators' console's replay: `quarry replay`'s comparison, run by the gateway in the background.

A platform admin asks; the gateway records the replay (one at a time in a deployment, see
`ReplayRecords`), answers at once, and rebuilds the read models from the event stream up to its
last message at that moment, reading it by direct gets as the `ops` user (no consumer is
created), into tables of the replay's own prefix, which are dropped afterwards. The report keeps
the first `DIFFERENCES_KEPT` differences with their count; progress is written every batch.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

from contracts import subjects
from quarry_runtime.cancelling import cancel_and_wait
from quarry_runtime.store import SqlDatabase
from services.gateway.adapters.jetstream_messages import JetStreamMessages
from services.gateway.adapters.jetstream_state import JetStreamState
from services.gateway.adapters.replay_records import ReplayRecords
from services.gateway.application import replay
from services.gateway.application.replay import Message, Models, ReplayReport
from services.gateway.errors import Conflict, NotFound

log = logging.getLogger("quarry.gateway.replay")

BATCH: Final = 256
DIFFERENCES_KEPT: Final = 200
# The background replays of this process: held, so that none is collected while it runs.
_running: set[asyncio.Task[None]] = set()


async def start(
    records: ReplayRecords, db: SqlDatabase, state: JetStreamState, messages: JetStreamMessages, requested_by: str
) -> dict[str, Any]:
    """Record a replay and start it; its record (state `running`). Conflict while another runs."""
    stream = next((s for s in await state.streams() if s.config.name == subjects.STREAM), None)
    if stream is None:
        raise NotFound(f"no {subjects.STREAM} stream to replay")
    replay_id = uuid.uuid4().hex
    first, last = stream.state.first_seq, stream.state.last_seq
    busy = await asyncio.to_thread(records.start, replay_id, requested_by, first, last)
    if busy is not None:
        raise Conflict(f"replay {busy['replay_id']} is running (asked by {busy['requested_by']}); wait for its report")
    # A replica that died mid-replay left its tables behind; nothing else drops them.
    for abandoned in await asyncio.to_thread(records.abandon_stale):
        await asyncio.to_thread(Models.open(db, prefix_of(abandoned)).drop)
    task = asyncio.create_task(_run(records, db, messages, replay_id, first, last), name=f"replay {replay_id}")
    _running.add(task)
    task.add_done_callback(_running.discard)
    found = await asyncio.to_thread(records.get, replay_id)
    assert found is not None
    return found


def prefix_of(replay_id: str) -> str:
    """The prefix of a replay's read-model tables."""
    return f"replay_{replay_id[:12]}_"


async def stop_all() -> None:
    """Cut this process's replays short (it is stopping); their records read as abandoned later."""
    await cancel_and_wait(list(_running))


async def _run(
    records: ReplayRecords, db: SqlDatabase, messages: JetStreamMessages, replay_id: str, first: int, last: int
) -> None:
    report = ReplayReport(first_seq=first, last_seq=last)
    prefix = prefix_of(replay_id)
    try:
        batches = _stored(messages, first, last, records, replay_id, report)
        await replay.rebuild(db, batches, report, prefix)
        outcome = "identical" if report.identical else "different"
        await asyncio.to_thread(records.finish, replay_id, outcome, report.messages, report.as_dict(DIFFERENCES_KEPT))
        log.info("replay %s: %s after %d messages", replay_id, outcome, report.messages)
    except Exception as exc:
        log.exception("replay %s failed", replay_id)
        failed = {**report.as_dict(DIFFERENCES_KEPT), "error": f"{type(exc).__name__}: {exc}"[:500]}
        await asyncio.to_thread(records.finish, replay_id, "failed", report.messages, failed)
        await asyncio.to_thread(Models.open(db, prefix).drop)


async def _stored(
    messages: JetStreamMessages, first: int, last: int, records: ReplayRecords, replay_id: str, report: ReplayReport
) -> AsyncIterator[Sequence[Message]]:
    """The event stream from `first` to `last` in batches; deleted sequences are stepped over."""
    seq = max(first, 1)
    while seq <= last:
        got = await messages.batch(subjects.STREAM, seq, min(BATCH, last - seq + 1))
        kept = [(m.seq, m.subject, m.headers, m.data) for m in got if m.seq <= last]
        if not kept:
            return
        yield kept
        seq = kept[-1][0] + 1
        await asyncio.to_thread(records.progress, replay_id, report.messages)
