"""Billing metering: usage events metered per second, beside raw JetStream consumption of the same events.

One nats-server in a temp dir. N `usage.v1.recorded` events (spread over a few tenants and
runs) are published to the QUARRY stream first; then, in the same run:

* raw: a nats-py durable pull consumer on `usage.v1.recorded` fetches batches of 16 and acks
  each message; timed from the first fetch to the last ack.
* billing: the service's own consumer (`services.billing.handlers`, through `Bus`) parses and
  validates each event, meters it into the tenant's Ledger (a stored event in SQLite, with the
  usage event id recorded in the same transaction; the events of a fetch commit together, as
  the service's group commit does) and acks; timed from start until all N are metered.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from rich.console import Console

from bench import procs
from bench.report import SummaryRow, ratio
from contracts import subjects
from contracts.ids import new_id
from contracts.usage import UsageRecorded, UsageRecordedPayload
from quarry_runtime import natsserver
from quarry_runtime.bus import Bus
from quarry_runtime.groupcommit import GroupCommit
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.billing.application import Billing
from services.billing.handlers import subscriptions

TENANTS = 4


def run(console: Console, events: int = 3000) -> list[SummaryRow]:
    with tempfile.TemporaryDirectory(prefix="quarry-bench-billing-") as tmp:
        server, url = natsserver.start(Path(tmp) / "nats", log_file=Path(tmp) / "nats.log")
        try:
            raw_rate, billed_rate = asyncio.run(_measure(url, Path(tmp), events))
        finally:
            procs.stop_process(server)
    console.print(
        f"billing metering: {events} usage events; raw JetStream {raw_rate:,.0f} msgs/s, "
        f"billing {billed_rate:,.0f} metered/s ({ratio(billed_rate, raw_rate):.2f}x)"
    )
    return [
        SummaryRow(
            "billing", "usage events metered/s (billing / raw JetStream)", f"{billed_rate:,.0f} / {raw_rate:,.0f}"
        ),
        SummaryRow("billing", "metering throughput ratio billing/raw", f"{ratio(billed_rate, raw_rate):.2f}x"),
    ]


async def _measure(url: str, tmp: Path, n: int) -> tuple[float, float]:
    publisher = Bus(url, "bench-usage")
    await publisher.start()
    try:
        runs = [new_id() for _ in range(TENANTS * 5)]
        for i in range(n):
            run_id = runs[i % len(runs)]
            ev = UsageRecorded.create(
                UsageRecordedPayload(task_id=f"task-{i}", kind="search", tool="web_search", search_calls=1),
                tenant_id=f"tenant-{i % TENANTS}",
                run_id=run_id,
            )
            await publisher.publish(ev)
    finally:
        await publisher.stop()
    raw_rate = await _raw(url, n)
    billed_rate = await _billing(url, tmp, n)
    return raw_rate, billed_rate


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
        started = time.perf_counter()
        while got < n:
            try:
                msgs = await psub.fetch(16, timeout=1.0)
            except TimeoutError:
                continue
            for msg in msgs:
                UsageRecorded.model_validate_json(msg.data)  # the parse every consumer pays
                await msg.ack()
                got += 1
        return n / (time.perf_counter() - started)
    finally:
        await nc.close()


async def _billing(url: str, tmp: Path, n: int) -> float:
    settings = RuntimeSettings(data_dir=tmp / "data")
    app = Billing(env=eventstore_env(settings, "billing"))
    bus = Bus(url, "billing")
    # As the composition root wires it: ledgers changed by concurrently handled events commit together.
    group = GroupCommit(app, after_commit=app.committed, on_drop=app.forget_aggregate)
    app.group = group
    done = asyncio.Event()

    def on_saved() -> None:
        if _metered(app) >= n:
            done.set()

    app.on_saved = on_saved
    for sub in subscriptions(app):
        if sub.subject == subjects.USAGE_RECORDED:
            bus.subscribe(sub)
    started = time.perf_counter()
    writer = asyncio.create_task(group.run())
    await bus.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=max(120.0, n / 20))
        elapsed = time.perf_counter() - started
        metered = _metered(app)
    finally:
        await bus.stop()
        writer.cancel()
        app.close()
    if metered != n:
        raise RuntimeError(f"{metered} of {n} usage events metered")
    return n / elapsed


def _metered(app: Billing) -> int:
    return sum(len(app.ledger(f"tenant-{t}", copy=False).metered) for t in range(TENANTS))
