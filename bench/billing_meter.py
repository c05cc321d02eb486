"""Billing metering: usage events metered per second, beside raw JetStream consumption of the same events.

One nats-server in a temp dir. N `usage.v1.recorded` events (spread over a few tenants and
runs) are published to the QUARRY stream first; then, in the same run:

* raw: a nats-py durable pull consumer on `usage.v1.recorded` fetches batches as large as
  billing's usage subscription does, parses and acks each message; timed from the first
  message in hand to the last ack.
* billing: the service's own consumer (`services.billing.handlers`, through `Bus`) parses and
  validates each event, meters it into the tenant's Ledger (stored in SQLite with the usage
  event id in the same transaction; the events handled concurrently commit together, as the
  service's group commit does, and a commit's usage events share one stored event per ledger) and acks once committed; timed like the raw
  consumer, from the first event handled until the commit that holds the N-th.

A third figure meters the same events in process, without the bus (parse, use case, group
commit in batches of the subscription's size): what billing itself costs, apart from the bus's
per-message work (dispatch, acks; a first delivery writes no in-flight mark).

Both sides are timed the same way (consumer set-up is outside both windows), fetch the same
batches, and log as the service does (faststream's per-message lines off). The bench also
reports the batching billing achieved: commits, usage events per commit and the largest
commit, counted from the commits themselves; and it checks, after the clock stops, that the
store holds every usage event once, so a figure is never reported for work not done.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from rich.console import Console

from bench import procs
from bench.report import SummaryRow, ratio, verdict
from contracts import subjects
from contracts.ids import new_id
from contracts.usage import UsageRecorded, UsageRecordedPayload
from devtools import natsserver
from quarry_runtime.bus import Bus
from quarry_runtime.groupcommit import GroupCommit
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.billing.application import Billing
from services.billing.handlers import USAGE_BATCH, subscriptions

TENANTS = 4
TARGET_RATIO = 0.5  # billing metered/s over raw JetStream msgs/s, at least (issue 13)


@dataclass
class Metered:
    """What billing's side measured."""

    rate: float  # usage events metered per second
    commits: int  # transactions that committed ledgers
    largest: int  # most usage events in one commit
    stored_events: int  # ledger events written (the metering ones, plus each tenant's opening)

    def per_commit(self, n: int) -> float:
        return n / self.commits if self.commits else float("nan")


def run(console: Console, events: int = 3000) -> list[SummaryRow]:
    # As `quarry_runtime.telemetry.configure` does in the service: no log line per message.
    logging.getLogger("faststream").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="quarry-bench-billing-") as tmp:
        server, url = natsserver.start(Path(tmp) / "nats", log_file=Path(tmp) / "nats.log")
        try:
            raw_rate, billed, alone = asyncio.run(_measure(url, Path(tmp), events))
        finally:
            procs.stop_process(server)
    per_commit = billed.per_commit(events)
    metering = ratio(billed.rate, raw_rate)
    console.print(
        f"billing metering: {events} usage events; raw JetStream {raw_rate:,.0f} msgs/s, "
        f"billing {billed.rate:,.0f} metered/s ({metering:.2f}x); "
        f"{billed.commits} commits, {per_commit:.1f} usage events per commit (largest {billed.largest}), "
        f"{billed.stored_events} ledger events stored; without the bus {alone:,.0f} metered/s"
    )
    held = metering >= TARGET_RATIO
    batching = f"{per_commit:.1f} ({billed.commits} commits, largest {billed.largest})"
    rows = [
        ("usage events metered/s (billing / raw JetStream)", f"{billed.rate:,.0f} / {raw_rate:,.0f}", "", ""),
        ("metering throughput ratio billing/raw", f"{metering:.2f}x", f">= {TARGET_RATIO}x", verdict(held)),
        ("usage events metered/s without the bus (parse, use case, commit)", f"{alone:,.0f}", "", ""),
        ("group commit: usage events per commit (commits, largest)", batching, "", ""),
    ]
    return [SummaryRow("billing", *row) for row in rows]


async def _measure(url: str, tmp: Path, n: int) -> tuple[float, Metered, float]:
    runs = [new_id() for _ in range(TENANTS * 5)]
    events = [
        UsageRecorded.create(
            UsageRecordedPayload(task_id=f"task-{i}", kind="search", tool="web_search", search_calls=1),
            tenant_id=f"tenant-{i % TENANTS}",
            run_id=runs[i % len(runs)],
        )
        for i in range(n)
    ]
    publisher = Bus(url, "bench-usage")
    await publisher.start()
    try:
        for ev in events:
            await publisher.publish(ev)
    finally:
        await publisher.stop()
    raw_rate = await _raw(url, n)
    billed = await _billing(url, tmp, n)
    alone = await _without_bus(tmp, [ev.to_bytes() for ev in events])
    return raw_rate, billed, alone


async def _raw(url: str, n: int) -> float:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        psub = await js.pull_subscribe(
            subjects.USAGE_RECORDED,
            durable="bench-raw-usage",
            stream=subjects.STREAM,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL),
        )
        got = 0
        started = 0.0
        while got < n:
            try:
                msgs = await psub.fetch(USAGE_BATCH, timeout=1.0)
            except TimeoutError:
                continue
            if not started:
                started = time.perf_counter()
            for msg in msgs:
                UsageRecorded.model_validate_json(msg.data)  # the parse every consumer pays
                await msg.ack()
                got += 1
        return n / (time.perf_counter() - started)
    finally:
        await nc.close()


async def _billing(url: str, tmp: Path, n: int) -> Metered:
    settings = RuntimeSettings(data_dir=tmp / "data")
    app = Billing(env=eventstore_env(settings, "billing"))
    bus = Bus(url, "billing")
    metered: dict[str, int] = {}  # tenant -> usage events its committed ledger holds
    sizes: list[int] = []  # usage events each commit added
    done = asyncio.Event()
    first: list[float] = []
    last: list[float] = []

    def after_commit(ledgers: Sequence[Any]) -> None:
        """Counted from what each commit carried, with no read of the store in the timed window."""
        added = 0
        for ledger in ledgers:
            added += len(ledger.metered) - metered.get(ledger.tenant_id, 0)
            metered[ledger.tenant_id] = len(ledger.metered)
        sizes.append(added)
        app.committed(ledgers)
        if sum(metered.values()) >= n and not done.is_set():
            last.append(time.perf_counter())
            done.set()

    # As the composition root wires it: ledgers changed by concurrently handled events commit together.
    group = GroupCommit(app, after_commit=after_commit, on_drop=app.forget_aggregate)
    app.group = group
    for sub in subscriptions(app):
        if sub.subject == subjects.USAGE_RECORDED:
            bus.subscribe(dataclasses.replace(sub, handler=_timing_first(sub.handler, first)))
    writer = asyncio.create_task(group.run())
    await bus.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=max(120.0, n / 20))
    finally:
        await bus.stop()
        writer.cancel()
    try:
        stored = _stored(app)  # after the clock stopped: from the store, not the counters
    finally:
        app.close()
    if stored != n:
        raise RuntimeError(f"{stored} of {n} usage events metered")
    return Metered(
        rate=n / (last[0] - first[0]),
        commits=len(sizes),
        largest=max(sizes, default=0),
        stored_events=group.events,
    )


async def _without_bus(tmp: Path, messages: list[bytes]) -> float:
    """The usage subscription's handler on the same events in process, a fetched batch at a time."""
    app = Billing(env=eventstore_env(RuntimeSettings(data_dir=tmp / "alone"), "billing"))
    group = app.group_commit(on_saved=lambda: None)
    (handler,) = [sub.handler for sub in subscriptions(app) if sub.subject == subjects.USAGE_RECORDED]

    async def handle(data: bytes) -> None:
        await handler(UsageRecorded.model_validate_json(data))

    writer = asyncio.create_task(group.run())
    try:
        started = time.perf_counter()
        for i in range(0, len(messages), USAGE_BATCH):
            await asyncio.gather(*(handle(data) for data in messages[i : i + USAGE_BATCH]))
        elapsed = time.perf_counter() - started
        stored = _stored(app)
    finally:
        writer.cancel()
        app.close()
    if stored != len(messages):
        raise RuntimeError(f"{stored} of {len(messages)} usage events metered without the bus")
    return len(messages) / elapsed


def _timing_first(handler: Any, first: list[float]) -> Any:
    async def handle(event: Any) -> None:
        if not first:
            first.append(time.perf_counter())
        await handler(event)

    return handle


def _stored(app: Billing) -> int:
    """Usage events metered, by the ledgers read back from the store (the cache is dropped)."""
    total = 0
    for t in range(TENANTS):
        app.forget(f"tenant-{t}")
        total += len(app.ledger(f"tenant-{t}", copy=False).metered)
    return total
