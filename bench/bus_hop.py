"""Bus hop: publish -> consume through `quarry_runtime.bus.Bus`, beside raw nats-py on the same server.

All sides run in this process against one nats-server started in a temp dir, each on its
own stream and durable pull consumer, and compare like with like: JetStream on every side, a
file-stored stream with the same duplicate window, a publish that names its stream and waits for
the ack, the same fetch parameters as the Bus (batch 16, 1 s timeout) and the same ack policy
(explicit, one ack per message after it is received):

* Bus: `Bus.publish(RunRequested)` (serialise, Nats-Msg-Id, trace headers, wait for the
  JetStream ack) -> the Bus's pull consumer (quarry_runtime.pulling; its fetch, quarry_runtime.pullfetch,
  sends the request nats-py's does, with no task per message) -> parse and validate the event
  -> trace context -> `Subscription` handler, which records the receive time; the Bus then acks.
* raw: `js.publish(pre-serialised bytes, Nats-Msg-Id, stream)` -> `psub.fetch(16)` -> record
  the receive time -> `msg.ack()`.
* faststream: the raw side's publish -> a bare faststream pull subscriber configured as the Bus
  configures its own (manual ack, no dependency injection, the message as the body) whose handler
  records the receive time and acks: what the Bus paid while faststream's pipeline consumed for it.

What the Bus adds on top is what a service relies on: the event serialised and validated, trace
context, dead-lettering and outage handling. A first delivery writes no in-flight mark (only a
redelivery does: quarry_runtime.inflight), so no hop here stores one.

A hop is timed from just before the publish to the receive time; the next hop starts only
once the previous message was received. The `RunRequested` object (or the raw side's headers)
is built before the clock starts; serialising it is the Bus's work and is timed. Rounds
alternate raw, faststream and Bus, after 100 uncounted warm-up hops each. The burst publishes
N messages back to back (each publish awaits its ack, as services do) and times the first
publish to the last receive; it runs in three alternating rounds, and the median round counts,
since a loaded machine swings a single round either way. The tracer provider is configured as in the services (spans are recorded,
not exported).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from faststream import AckPolicy as FastStreamAckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from rich.console import Console
from rich.table import Table

from bench import procs
from bench.report import Latency, SummaryRow, latency_table, ms, ratio, ratio_latency, ratio_row
from contracts import subjects
from contracts.envelope import Actor
from contracts.run import RunRequested, RunRequestedPayload
from devtools import natsserver
from quarry_runtime.bus import DUPLICATE_WINDOW_S, Bus, Subscription
from quarry_runtime.telemetry import configure

TARGET_P50_RATIO = 1.5  # Bus hop p50 / raw hop p50, at most
TARGET_P95_RATIO = 2.0
TARGET_BURST_RATIO = 0.8  # Bus burst throughput / raw, at least
RAW_STREAM = "BENCH_RAW"
RAW_SUBJECT = "benchraw.v1.hop"
FS_STREAM = "BENCH_FASTSTREAM"
FS_SUBJECT = "benchfs.v1.hop"
BATCH = 16
FETCH_TIMEOUT_S = 1.0
HOP_TIMEOUT_S = 5.0
BURST_ROUNDS = 3


@dataclass
class Receiver:
    """Where a consumer reports each message: it resolves the waiting hop, or counts a burst."""

    waiting: asyncio.Future[float] | None = None
    burst_left: int = 0
    burst_done: asyncio.Event = field(default_factory=asyncio.Event)
    last_received: float = 0.0
    received: int = 0

    def got(self) -> None:
        now = time.perf_counter()
        self.received += 1
        self.last_received = now
        if self.burst_left > 0:
            self.burst_left -= 1
            if self.burst_left == 0:
                self.burst_done.set()
        elif self.waiting is not None and not self.waiting.done():
            self.waiting.set_result(now)


@dataclass
class Side:
    name: str
    prepare: Callable[[], Any]
    publish: Callable[[Any], Awaitable[None]]
    receiver: Receiver
    hops_ms: list[float] = field(default_factory=list)
    publish_ms: list[float] = field(default_factory=list)
    lost: int = 0
    burst_rates: list[float] = field(default_factory=list)  # msgs/s, one per burst round
    burst_n: int = 0  # consumed, over every round

    def burst_rate(self) -> float:
        """The median round: a busy machine slows one round or another, whichever side it is."""
        return statistics.median(self.burst_rates) if self.burst_rates else 0.0

    async def hop(self) -> float | None:
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.receiver.waiting = fut
        item = self.prepare()
        started = time.perf_counter()
        await self.publish(item)
        self.publish_ms.append((time.perf_counter() - started) * 1000)
        try:
            received = await asyncio.wait_for(fut, HOP_TIMEOUT_S)
        except TimeoutError:
            self.lost += 1
            return None
        finally:
            self.receiver.waiting = None
        return (received - started) * 1000

    async def burst(self, n: int) -> None:
        r = self.receiver
        r.burst_done.clear()
        r.burst_left = n
        items = [self.prepare() for _ in range(n)]
        started = time.perf_counter()
        for item in items:
            await self.publish(item)
        try:
            await asyncio.wait_for(r.burst_done.wait(), 60.0)
        except TimeoutError:
            self.lost += r.burst_left
        consumed, seconds = n - r.burst_left, r.last_received - started
        self.burst_rates.append(consumed / seconds if seconds > 0 else 0.0)
        self.burst_n += consumed
        r.burst_left = 0


def run(console: Console, hops: int = 2000, rounds: int = 4, burst: int = 2000) -> list[SummaryRow]:
    console.rule("[bold]2. Bus hop: publish -> consume")
    configure("bench", "WARNING")  # a tracer provider and quiet faststream logs, as in the services
    with tempfile.TemporaryDirectory(prefix="quarry-bench-bus-") as tmp:
        server, url = natsserver.start(Path(tmp) / "nats", log_file=Path(tmp) / "nats.log")
        try:
            bus_side, raw_side, fs_side = asyncio.run(_measure(url, hops, rounds, burst))
        finally:
            procs.stop_process(server)

    lb, lr, lf = Latency.of(bus_side.hops_ms), Latency.of(raw_side.hops_ms), Latency.of(fs_side.hops_ms)
    pb, pr, pf = Latency.of(bus_side.publish_ms), Latency.of(raw_side.publish_ms), Latency.of(fs_side.publish_ms)
    lat_ratio = ratio_latency(lb, lr)
    console.print(
        latency_table(
            f"publish -> handler, {hops} sequential hops each ({rounds} alternating rounds), one nats-server",
            [
                ("raw nats-py (pull, batch 16)", lr, [ms(pr.p50)]),
                ("bare faststream subscriber", lf, [ms(pf.p50)]),
                ("ratio faststream/raw (x)", ratio_latency(lf, lr), [f"{ratio(pf.p50, pr.p50):.2f}"]),
                ("quarry Bus", lb, [ms(pb.p50)]),
                ("ratio Bus/raw (x)", lat_ratio, [f"{ratio(pb.p50, pr.p50):.2f}"]),
            ],
            extra_headers=["of which publish+ack p50 ms"],
        )
    )
    if bus_side.lost or raw_side.lost or fs_side.lost:
        console.print(
            f"[red]not received within {HOP_TIMEOUT_S}s: bus {bus_side.lost}, raw {raw_side.lost}, "
            f"faststream {fs_side.lost}[/red]"
        )
    burst_table = Table(
        title=f"burst: publish {burst} back to back, time until all consumed ({BURST_ROUNDS} alternating rounds)",
        title_justify="left",
    )
    for head in ("series", "consumed", "msgs/s (median)", "range"):
        burst_table.add_column(head, justify="left" if head == "series" else "right")
    rates = {side.name: side.burst_rate() for side in (raw_side, fs_side, bus_side)}
    for side in (raw_side, fs_side, bus_side):
        spread = f"{min(side.burst_rates, default=0):.0f}-{max(side.burst_rates, default=0):.0f}"
        burst_table.add_row(side.name, str(side.burst_n), f"{rates[side.name]:.0f}", spread)
    burst_table.add_row("ratio Bus/raw", "", f"{ratio(rates['bus'], rates['raw']):.2f}x", "")
    console.print(burst_table)
    return [
        SummaryRow("bus hop", "Bus p50 / p95 / p99 ms", f"{ms(lb.p50)} / {ms(lb.p95)} / {ms(lb.p99)}"),
        SummaryRow("bus hop", "raw p50 / p95 / p99 ms", f"{ms(lr.p50)} / {ms(lr.p95)} / {ms(lr.p99)}"),
        ratio_row("bus hop", "p50 ratio bare faststream/raw", ratio(lf.p50, lr.p50)),
        ratio_row("bus hop", "p50 ratio Bus/raw", ratio(lb.p50, lr.p50), at_most=TARGET_P50_RATIO),
        ratio_row("bus hop", "p95 ratio Bus/raw", ratio(lb.p95, lr.p95), at_most=TARGET_P95_RATIO),
        SummaryRow(
            "bus hop",
            "burst msgs/s Bus / faststream / raw",
            f"{rates['bus']:.0f} / {rates['faststream']:.0f} / {rates['raw']:.0f}",
        ),
        ratio_row(
            "bus hop", "burst throughput ratio Bus/raw", ratio(rates["bus"], rates["raw"]), at_least=TARGET_BURST_RATIO
        ),
    ]


async def _measure(url: str, hops: int, rounds: int, burst: int) -> tuple[Side, Side, Side]:
    bus_rx, raw_rx, fs_rx = Receiver(), Receiver(), Receiver()

    # -- the Bus, exactly as a service uses it ---------------------------------------------
    bus = Bus(url, "bench")

    async def on_requested(_: RunRequested) -> None:
        bus_rx.got()

    bus.subscribe(Subscription(subjects.RUN_REQUESTED, "bench-hop", on_requested, batch=BATCH))
    await bus.start()
    counter = itertools.count()
    payload = RunRequestedPayload(question="How does the with statement work?", depth=1, max_sources=1)
    actor = Actor(user_id="u-bench", roles=["owner"])

    def bus_prepare() -> RunRequested:
        return RunRequested.create(payload, tenant_id="t-bench", run_id=f"r-{next(counter)}", actor=actor)

    async def bus_publish(event: RunRequested) -> None:
        await bus.publish(event)

    # -- raw nats-py on its own stream -----------------------------------------------------
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(
            name=RAW_STREAM, subjects=[RAW_SUBJECT], storage=StorageType.FILE, duplicate_window=DUPLICATE_WINDOW_S
        )
    )
    psub = await js.pull_subscribe(
        RAW_SUBJECT,
        durable="bench-raw",
        stream=RAW_STREAM,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30.0, deliver_policy=DeliverPolicy.ALL),
    )
    stopping = asyncio.Event()

    async def consume_raw() -> None:
        while not stopping.is_set():
            try:
                msgs = await psub.fetch(BATCH, timeout=FETCH_TIMEOUT_S)
            except TimeoutError:
                continue
            for msg in msgs:
                raw_rx.got()
                await msg.ack()

    template = RunRequested.create(payload, tenant_id="t-bench", run_id="r-raw", actor=actor).to_bytes()
    raw_ids = itertools.count()

    def raw_prepare() -> dict[str, str]:
        return {"Nats-Msg-Id": f"raw-{next(raw_ids)}"}

    async def raw_publish(headers: dict[str, str]) -> None:
        await js.publish(RAW_SUBJECT, template, headers=headers, stream=RAW_STREAM)

    # -- a bare faststream subscriber on its own stream, fed by the raw side's publish ---------
    await js.add_stream(
        StreamConfig(
            name=FS_STREAM, subjects=[FS_SUBJECT], storage=StorageType.FILE, duplicate_window=DUPLICATE_WINDOW_S
        )
    )
    # Its log lines at the level the services' brokers log at (quarry_runtime.broker).
    fs_broker = NatsBroker(url, apply_types=False, logger=logging.getLogger("faststream.bench"))

    async def keep_message(message: NatsMessage) -> NatsMessage:
        return message

    @fs_broker.subscriber(
        FS_SUBJECT,
        stream=JStream(FS_STREAM, declare=False),
        durable="bench-faststream",
        pull_sub=PullSub(batch_size=BATCH, timeout=FETCH_TIMEOUT_S),
        ack_policy=FastStreamAckPolicy.MANUAL,
        config=ConsumerConfig(ack_wait=30.0, deliver_policy=DeliverPolicy.ALL),
        decoder=keep_message,
    )
    async def on_fs_message(message: NatsMessage) -> None:
        fs_rx.got()
        await message.ack()

    await fs_broker.start()

    async def fs_publish(headers: dict[str, str]) -> None:
        await js.publish(FS_SUBJECT, template, headers=headers, stream=FS_STREAM)

    consumer = asyncio.create_task(consume_raw())
    bus_side, raw_side = Side("bus", bus_prepare, bus_publish, bus_rx), Side("raw", raw_prepare, raw_publish, raw_rx)
    fs_side = Side("faststream", raw_prepare, fs_publish, fs_rx)
    sides = (raw_side, fs_side, bus_side)
    try:
        for side in sides:  # warm-up, not counted
            for _ in range(100):
                await side.hop()
            side.lost = 0
            side.publish_ms.clear()
        per_round = max(1, hops // rounds)
        for _ in range(rounds):
            for side in sides:
                for _ in range(per_round):
                    latency = await side.hop()
                    if latency is not None:
                        side.hops_ms.append(latency)
        for _ in range(BURST_ROUNDS):
            for side in sides:
                await side.burst(burst)
    finally:
        stopping.set()
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        await psub.unsubscribe()
        await nc.close()
        await fs_broker.stop()
        await bus.stop()
    return bus_side, raw_side, fs_side
