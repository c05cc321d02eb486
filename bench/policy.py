"""Policy decisions: in-process `PolicyEngine.decide` beside raw cedarpy, and tool requested -> decided over the bus.

In process, on the shipped policy set and registry:

* raw: `cedarpy.is_authorized(request, policy_set, entities, schema)` with everything
  pre-parsed: the PolicySet (hard + soft, as the engine's one-call fast path evaluates), the
  schema, and the entities including this request's agent, tenant and user. The request dict is
  the very one the engine builds, so both sides ask Cedar the same question.
* engine: `PolicyEngine.decide(ToolRequestedPayload)`: registry lookup, JSON Schema validation
  of the arguments, the Cedar request and entities, one Cedar call, the verdict.

Both decide `web_search` calls that are allowed (the common case), each with a different
question so nothing is served from a cache that real traffic would miss; rounds alternate raw
and engine after an uncounted warm-up. The approval path (a soft rule matches, so the hard set
is asked too: two Cedar calls) is timed separately for reference.

Over the bus: the policy service's own consumers and responders (`services.policy.bootstrap`)
run in this process against a nats-server started in a temp dir, with their SQLite store. A
hop is `Bus.publish(ToolRequested)` (JetStream, awaiting the ack, as the orchestrator's outbox
publishes) until the matching `tool.v1.decided` reaches a core-NATS subscriber, i.e. the moment
the decision is on the bus; the next hop starts after it. The burst publishes N requests back
to back and times the first publish to the last decision received: decisions per second.
Tenants rotate so no rate limit is reached.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import cedarpy
from rich.console import Console

from bench import procs
from bench.report import Latency, SummaryRow, latency_table, ms, ratio, ratio_latency, ratio_row, verdict
from contracts import subjects
from contracts.envelope import Actor
from contracts.tool import ToolRequested, ToolRequestedPayload
from devtools import natsserver
from quarry_runtime.bus import Bus
from quarry_runtime.telemetry import configure
from services.policy.bootstrap import PolicyParts, PolicySettings, assemble
from services.policy.domain.engine import PolicyEngine

TARGET_RATIO = 1.5
TARGET_BUS_P99_MS = 5.0
TENANTS = 500
HOP_TIMEOUT_S = 5.0
AGENT = "quarry-orchestrator"


def run(
    console: Console, decisions: int = 20_000, rounds: int = 5, hops: int = 2000, burst: int = 5000
) -> list[SummaryRow]:
    console.rule("[bold]Policy decisions: in process, and tool requested -> decided over the bus")
    raw, engine, approval = _in_process(decisions, rounds)
    lr, le, la = Latency.of(raw), Latency.of(engine), Latency.of(approval)
    console.print(
        latency_table(
            f"one decision, {decisions} allowed web_search calls per series ({rounds} alternating rounds)",
            [
                ("raw cedarpy.is_authorized (pre-parsed)", lr, []),
                ("PolicyEngine.decide", le, []),
                ("ratio engine/raw (x)", ratio_latency(le, lr), []),
                ("PolicyEngine.decide, approval path", la, []),
            ],
        )
    )
    configure("bench", "WARNING")
    with tempfile.TemporaryDirectory(prefix="quarry-bench-policy-") as tmp:
        server, url = natsserver.start(Path(tmp) / "nats", log_file=Path(tmp) / "nats.log")
        try:
            hop_ms, lost, burst_s, burst_n = asyncio.run(_over_the_bus(url, Path(tmp) / "data", hops, burst))
        finally:
            procs.stop_process(server)
    lb = Latency.of(hop_ms)
    console.print(
        latency_table(f"tool.v1.requested -> tool.v1.decided on the bus, {hops} sequential requests", [("hop", lb, [])])
    )
    rate = burst_n / burst_s if burst_s > 0 else 0.0
    console.print(f"burst: {burst_n} of {burst} decided in {burst_s:.2f}s: {rate:.0f} decisions/s")
    if lost:
        console.print(f"[red]{lost} requests not decided within {HOP_TIMEOUT_S}s[/red]")
    p50_ratio, p99_ratio = ratio(le.p50, lr.p50), ratio(le.p99, lr.p99)
    return [
        SummaryRow("policy", "decide p50 / p99 ms", f"{ms(le.p50 * 1)} / {ms(le.p99)}"),
        SummaryRow("policy", "raw cedarpy p50 / p99 ms", f"{ms(lr.p50)} / {ms(lr.p99)}"),
        ratio_row("policy", "p50 ratio decide/raw", p50_ratio, at_most=TARGET_RATIO),
        ratio_row("policy", "p99 ratio decide/raw", p99_ratio, at_most=TARGET_RATIO),
        SummaryRow("policy", "bus requested->decided p50 / p99 ms", f"{ms(lb.p50)} / {ms(lb.p99)}"),
        SummaryRow(
            "policy",
            "bus requested->decided p99",
            f"{ms(lb.p99)} ms",
            f"< {TARGET_BUS_P99_MS:.0f} ms",
            verdict(lb.p99 < TARGET_BUS_P99_MS and not lost),
        ),
        SummaryRow("policy", "decisions/s over the bus (burst)", f"{rate:.0f}"),
    ]


def _request(i: int, tool: str = "web_search", **arguments: Any) -> ToolRequestedPayload:
    return ToolRequestedPayload(
        request_id=f"req-{i}",
        tool=tool,
        task_id=f"task-{i}",
        step="search",
        plan="pro",
        roles=["member"],
        arguments=arguments
        or {"question": f"What changed in release {i}?", "sub_question": f"part {i % 7}", "limit": 8},
    )


def _in_process(n: int, rounds: int) -> tuple[list[float], list[float], list[float]]:
    noon = 12 * 3600.0
    engine = PolicyEngine.load(clock=lambda: noon)
    files = engine.files
    schema = cedarpy.Schema.from_json_str(files.schema)
    policies = cedarpy.PolicySet.from_str("\n".join([*files.hard.values(), *files.soft.values()]))
    acting = [
        {
            "uid": {"type": "Quarry::Agent", "id": AGENT},
            "attrs": {"tenant": "t-bench", "acting_for": "u-1"},
            "parents": [],
        },
        {"uid": {"type": "Quarry::Tenant", "id": "t-bench"}, "attrs": {"plan": "pro"}, "parents": []},
        {
            "uid": {"type": "Quarry::User", "id": "u-1"},
            "attrs": {"tenant": "t-bench", "roles": ["member"]},
            "parents": [],
        },
    ]
    entities = cedarpy.Entities.from_json_str(engine.registry.entities_json(), schema).with_added_json_str(
        json.dumps(acting), schema
    )
    requests = [_request(i) for i in range(256)]
    cedar_requests = [engine.cedar_request(r, tenant_id="t-bench", agent=AGENT) for r in requests]
    fetches = [_request(i, "fetch_url", url=f"https://unlisted-{i}.example.org/") for i in range(256)]
    check = engine.decide(requests[0], tenant_id="t-bench", agent=AGENT, user_id="u-1")
    raw_check = cedarpy.is_authorized(cedar_requests[0], policies, entities, schema)
    assert check.decision == "allow" and raw_check.allowed, (check, raw_check.diagnostics.errors)
    assert engine.decide(fetches[0], tenant_id="t-bench", agent=AGENT, user_id="u-1").decision == "require_approval"

    def time_raw(count: int, out: list[float]) -> None:
        for i in range(count):
            req = cedar_requests[i % len(cedar_requests)]
            started = time.perf_counter()
            cedarpy.is_authorized(req, policies, entities, schema)
            out.append((time.perf_counter() - started) * 1000)

    def time_engine(count: int, out: list[float], pool: list[ToolRequestedPayload]) -> None:
        for i in range(count):
            req = pool[i % len(pool)]
            started = time.perf_counter()
            engine.decide(req, tenant_id="t-bench", agent=AGENT, user_id="u-1")
            out.append((time.perf_counter() - started) * 1000)

    warm: list[float] = []
    time_raw(2000, warm)
    time_engine(2000, warm, requests)
    time_engine(500, warm, fetches)
    raw: list[float] = []
    decided: list[float] = []
    approval: list[float] = []
    per_round = max(1, n // rounds)
    for _ in range(rounds):
        time_raw(per_round, raw)
        time_engine(per_round, decided, requests)
        time_engine(per_round // 4, approval, fetches)
    return raw, decided, approval


async def _over_the_bus(url: str, data_dir: Path, hops: int, burst: int) -> tuple[list[float], int, float, int]:
    settings = PolicySettings(data_dir=data_dir).model_copy(update={"nats_url": url})
    parts = assemble(settings)
    await parts.service.bus.start()
    jobs = [asyncio.create_task(job()) for job in parts.service.background]
    client = Bus(url, "bench-policy-client")
    await client.broker.connect()
    nc = client.broker.connection
    waiting: dict[str, asyncio.Future[float]] = {}
    burst_state: dict[str, Any] = {"left": 0, "last": 0.0, "done": asyncio.Event()}

    async def on_decided(msg: Any) -> None:
        now = time.perf_counter()
        task_id = json.loads(msg.data)["payload"]["task_id"]
        future = waiting.pop(task_id, None)
        if future is not None and not future.done():
            future.set_result(now)
        elif task_id.startswith("burst-") and burst_state["left"] > 0:
            burst_state["left"] -= 1
            burst_state["last"] = now
            if burst_state["left"] == 0:
                burst_state["done"].set()

    sub = await nc.subscribe(subjects.TOOL_DECIDED, cb=on_decided)
    actor = Actor(user_id="u-1", agent=AGENT, roles=["member"])

    def event(i: int, prefix: str) -> ToolRequested:
        payload = _request(i).model_copy(update={"task_id": f"{prefix}-{i}", "request_id": f"{prefix}-{i}:1"})
        return ToolRequested.create(payload, tenant_id=f"t-{i % TENANTS}", run_id=f"run-{prefix}-{i}", actor=actor)

    async def hop(i: int, prefix: str) -> float | None:
        ev = event(i, prefix)
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        waiting[ev.payload.task_id] = future
        started = time.perf_counter()
        await client.publish(ev)
        try:
            received = await asyncio.wait_for(future, HOP_TIMEOUT_S)
        except TimeoutError:
            waiting.pop(ev.payload.task_id, None)
            return None
        return (received - started) * 1000

    try:
        await _wait_ready(parts)
        for i in range(200):  # warm-up: consumers fetching, caches filled
            await hop(i, "warm")
        hop_ms: list[float] = []
        lost = 0
        for i in range(hops):
            latency = await hop(i, "hop")
            if latency is None:
                lost += 1
            else:
                hop_ms.append(latency)
        events = [event(i, "burst") for i in range(burst)]
        burst_state["left"] = burst
        started = time.perf_counter()
        for ev in events:
            await client.publish(ev)
        try:
            await asyncio.wait_for(burst_state["done"].wait(), 120)
        except TimeoutError:
            lost += burst_state["left"]
        burst_n = burst - burst_state["left"]
        return hop_ms, lost, burst_state["last"] - started, burst_n
    finally:
        await sub.unsubscribe()
        await client.stop()
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        await parts.service.bus.stop()
        for close in parts.service.on_stop:
            close()


async def _wait_ready(parts: PolicyParts) -> None:
    nc = parts.service.bus.broker.connection
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            await nc.request(subjects.POLICY_VERSIONS, b"{}", timeout=0.5)
            return
        except Exception:  # noqa: BLE001 - not subscribed yet
            await asyncio.sleep(0.05)
    raise TimeoutError("the policy service never answered")
