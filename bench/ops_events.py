"""The operators' event browser over a large stream: `python -m bench ops [--ops-events N]`.

A nats-server of its own gets N stored events (1,000,000 by default: tool decisions of 100
tenants, with one run's 40 events spread evenly through them), and a gateway store on SQLite
gets that run's log, as the gateway's consumer would write it. Then, each timed several times
(the median printed): a newest-first page unfiltered, a page filtered on a type (a subject
JetStream filters on), a page filtered on a tenant (1 in 100, matched in the gateway: it answers
with what its time budget found, and `next_before`), an older page (`before`), and the run's
correlation view. The newest-first page and the view are held against 200 ms each. Figures
only; it asserts nothing.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.js.api import StorageType, StreamConfig
from rich.console import Console

from bench import procs
from bench.report import SummaryRow
from contracts import subjects
from contracts.envelope import Event
from contracts.run import RunRequested, RunRequestedPayload, RunStepChanged, RunStepChangedPayload
from devtools import natsserver
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase
from services.gateway.adapters.jetstream_messages import JetStreamMessages
from services.gateway.adapters.jetstream_state import JetStreamState
from services.gateway.application import event_browser
from services.gateway.application.correlation import correlation
from services.gateway.domain.event_query import EventQuery
from services.gateway.readmodels.store import GatewayStore

RUN_EVENTS = 40
TENANTS = 100
ROUNDS = 7
TARGET_MS = 200.0
HELD = ("newest-first page, no filter", "run correlation view (40 events)")
FLUSH_EVERY = 20_000


def run_event(placed: int, first: Event | None) -> Event:
    """The run's next event, made as it is published (its time is when it occurred, as live)."""
    if first is None:
        asked = RunRequested.create(
            RunRequestedPayload(question="the run timed", depth=1, max_sources=3), tenant_id="t0"
        )
        return asked.model_copy(update={"run_id": asked.event_id})
    step = RunStepChangedPayload(step=f"s{placed}", status="started")
    return RunStepChanged.caused_by(first, step, name=f"s{placed}")


def noise(i: int) -> bytes:
    body = {
        "event_id": uuid.uuid4().hex,
        "type": "tool.decided",
        "tenant_id": f"t{i % TENANTS}",
        "run_id": f"r{i % 5000}",
        "payload": {"tool": "fetch_url" if i % 7 else "web_search", "n": i, "reason": "x" * 200},
    }
    return json.dumps(body).encode()


async def fill(nc: Client, count: int) -> list[Event]:
    """`count` events, the run's spread evenly among them (core publishes, flushed in batches)."""
    every = count // RUN_EVENTS
    run: list[Event] = []
    for i in range(count):
        if len(run) < RUN_EVENTS and i % every == every // 2:
            event = run_event(len(run), run[0] if run else None)
            run.append(event)
            await nc.publish(event.SUBJECT, event.to_bytes(), headers={"Nats-Msg-Id": event.event_id})
        else:
            await nc.publish(subjects.TOOL_DECIDED, noise(i))
        if i % FLUSH_EVERY == 0:
            await nc.flush()
    await nc.flush()
    return run


async def median_ms(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    await work()  # warm: the server's caches, the first request's connection setup
    times, last = [], None
    for _ in range(ROUNDS):
        started = time.perf_counter()
        last = await work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), last


async def measure(console: Console, count: int) -> list[SummaryRow]:
    root = Path(tempfile.mkdtemp(prefix="bench-ops-"))
    proc, url = natsserver.start(root / "nats")
    try:
        nc = await nats.connect(url)
        js = nc.jetstream()
        config = StreamConfig(
            name=subjects.STREAM, subjects=subjects.STREAM_SUBJECTS, allow_direct=True, storage=StorageType.FILE
        )
        await js.add_stream(config)
        started = time.perf_counter()
        run = await fill(nc, count)
        while (await js.stream_info(subjects.STREAM)).state.messages < count:  # noqa: ASYNC110 - polling the server
            await asyncio.sleep(0.5)
        console.print(f"ops events: stored {count:,} events in {time.perf_counter() - started:.0f} s")
        store = GatewayStore(SqlDatabase(RuntimeSettings(data_dir=root / "gateway"), "gateway"))
        for event in run:
            store.record_run_event(event)
        messages, state = JetStreamMessages(nc), JetStreamState(nc, frozenset({subjects.STREAM}))
        stream = await event_browser.event_stream_state(state)

        def page(query: EventQuery, before: int | None = None) -> Callable[[], Awaitable[Any]]:
            return lambda: event_browser.newest_first(
                messages, stream, query, before=before, limit=50, with_payload=False
            )

        cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("newest-first page, no filter", page(EventQuery())),
            ("newest-first page, type (subject)", page(EventQuery(type="tool.decided"))),
            ("newest-first page, tenant (1 in 100)", page(EventQuery(tenant="t42"))),
            ("older page (before = middle)", page(EventQuery(), before=stream.last_seq // 2)),
            (
                "run correlation view (40 events)",
                lambda: correlation(store, messages, run[0].event_id, with_payload=False),
            ),
        ]
        rows: list[SummaryRow] = []
        for name, work in cases:
            took, answer = await median_ms(work)
            found = answer.events if hasattr(answer, "events") else answer["events"]
            scanned = f", scanned {answer.scanned:,}" if hasattr(answer, "scanned") else ""
            console.print(f"  {name:42} {took:8.1f} ms median of {ROUNDS} ({len(found)} events{scanned})")
            if name in HELD:
                verdict = "ok" if took < TARGET_MS else "over"
                rows.append(SummaryRow("ops", f"{name}, {count:,} events (ms)", f"{took:.1f}", "< 200", verdict))
        await nc.close()
        return rows
    finally:
        procs.stop_process(proc)


def run(console: Console, events: int) -> list[SummaryRow]:
    return asyncio.run(measure(console, events))
