"""Run admission: `POST /v1/runs` on the gateway under concurrent load, beside a trivial FastAPI app.

What is timed is the gateway's synchronous path to `202 Accepted`: authenticate the bearer
token, validate the body, publish `RunRequested` to JetStream and wait for its ack, record it
in the gateway's read model (SQLite). To time that path and not the saga it sets off, the six
other services are paused (SIGSTOP) once the stack is healthy and the user signed up, and
resumed (SIGCONT) only after the load; nats-server and the gateway (including its own
projection consumers, which see every run.* event it publishes) keep running. The accepted
runs are then processed briefly - billing denies most, a free tenant has 500 credits - until
the stack is stopped a moment later.

Billing is paused with the others, so the gateway's plan check could not be answered during the
load (each expired answer would cost its 1 s time-out): the bench asks one run before pausing,
while billing answers, and the gateway keeps that answer for the measurement
(QUARRY_ENTITLEMENTS_TTL_S). With billing running, an answer is asked again every 5 s per tenant
and run shape, one request/reply on the bus.

The baseline is `bench.ping_app`: the gateway's own app shell (error handler, body limits, web
middleware), process set-up (logging, tracer provider) and uvicorn options, with `POST /ping` ->
{"ok": true} doing no work, under the
same load from the same client process. Both are measured while the stack is up and paused,
in alternating rounds, so drift on a noisy machine hits both alike: first with `concurrency`
clients (closed loop: each has its own keep-alive connection and sends its next request when
the last one is answered; see bench.load), then with one client, which shows the latency of
one request without queueing. Six rounds of 500 requests per side: a p95 from 1000 requests in
two rounds of about a third of a second each moved between 1.15x and 1.78x of the baseline's
from run to run, as one stall of either server landed in a round or did not. Beside the p95 of
all rounds pooled, the summary gives the median of the rounds' own p95 ratios (each round's two
sides run a moment apart, so a stall moves one round's ratio, not the pooled p95). The server
process's CPU time over each phase (/proc) gives CPU ms per request, less sensitive to the
machine's noise than latency.

With N closed-loop clients the mean latency is N / throughput (Little's law), so a p95 under
50 ms at 50 clients needs well over 1000 requests/s from the client and the server together,
which is about what the no-op baseline reaches on two cores.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from bench import procs
from bench.load import LoadResult, clients, fire
from bench.report import Latency, SummaryRow, latency_table, ms, ratio, ratio_latency, timed_step, verdict
from devtools import natsserver
from devtools.client import QuarryClient
from devtools.stack import Stack, StackConfig

TARGET_P95_MS = 50.0
ENTITLEMENTS_KEPT_S = 300
TTL_VARIABLE = "QUARRY_ENTITLEMENTS_TTL_S"
QUESTION = "How does the with statement work in Python?"
DEPTH, MAX_SOURCES = 1, 1
RUN_BODY = {"question": QUESTION, "depth": DEPTH, "max_sources": MAX_SOURCES}


@dataclass
class Target:
    name: str
    clients: Sequence[httpx.AsyncClient]
    path: str
    pid: int


@dataclass
class Phase:
    """One load shape, measured on the baseline and the gateway alike."""

    label: str
    requests: int
    concurrency: int
    rounds: int


def run(
    console: Console, requests: int = 3000, concurrency: int = 50, rounds: int = 6, single: int = 200
) -> list[SummaryRow]:
    console.rule("[bold]1. Run admission: POST /v1/runs")
    phases = [
        Phase(f"{concurrency} clients", requests, concurrency, rounds),
        Phase("1 client", single, 1, 2),
    ]
    with tempfile.TemporaryDirectory(prefix="quarry-bench-admission-") as tmp:
        data = Path(tmp)
        (data / "logs").mkdir()
        ping_port = natsserver.free_port()
        ping = procs.start_python_module(["bench.ping_app", str(ping_port)], data / "logs" / "ping_app.log")
        stack: Stack | None = None
        paused: list[int] = []
        kept_before = os.environ.get(TTL_VARIABLE)
        try:
            procs.wait_http_ok(f"http://127.0.0.1:{ping_port}/healthz", ping)
            config = StackConfig(data_dir=data / "stack", http_port=natsserver.free_port(), restart=False)
            os.environ[TTL_VARIABLE] = str(ENTITLEMENTS_KEPT_S)  # the stack's services inherit it
            started = time.monotonic()
            stack = Stack(config)
            with console.status("starting nats-server and the seven services..."):
                stack.start()
                stack.wait_healthy(timeout_s=240)
            console.print(f"stack healthy after {time.monotonic() - started:.1f}s (SQLite, its own nats-server)")
            gateway_url = f"http://127.0.0.1:{config.http_port}"
            client = QuarryClient(gateway_url)
            client.signup(f"bench-{uuid.uuid4().hex[:8]}@example.com", "bench-password-123", "Bench tenant")
            token = client.token or ""
            # Billing's answer about the tenant's plan, asked while billing runs (see above).
            client.create_run(QUESTION, depth=DEPTH, max_sources=MAX_SOURCES)
            client.close()
            time.sleep(2.0)  # let the sign-up's events settle before pausing anything
            paused = [p.popen.pid for name, p in stack.procs.items() if name != "gateway"]
            procs.pause(paused)
            console.print(
                f"paused the {len(paused)} services other than the gateway (SIGSTOP) for the measurement; "
                "nats-server and the gateway run"
            )
            timed_step(console, f"loading the baseline and the gateway ({requests} + {single} requests each)...")
            results, paired = asyncio.run(
                _measure(
                    (f"http://127.0.0.1:{ping_port}", ping.pid),
                    (gateway_url, stack.procs["gateway"].popen.pid),
                    token,
                    phases,
                )
            )
        finally:
            if kept_before is None:
                os.environ.pop(TTL_VARIABLE, None)
            else:
                os.environ[TTL_VARIABLE] = kept_before
            procs.resume(paused)
            with console.status("stopping the stack and the baseline app..."):
                if stack is not None:
                    stack.stop()
                procs.stop_process(ping)

    rows: list[tuple[str, Latency, Sequence[str]]] = []
    summary: list[SummaryRow] = []
    for phase in phases:
        base, gate = results[(phase.label, "baseline")], results[(phase.label, "gateway")]
        lb, lg = Latency.of(base.latencies_ms), Latency.of(gate.latencies_ms)
        cb, cg = base.server_cpu_ms_per_request, gate.server_cpu_ms_per_request
        rows += [
            (f"baseline, {phase.label}", lb, [f"{base.rate:.0f}", f"{cb:.2f}", _codes(base)]),
            (f"gateway, {phase.label}", lg, [f"{gate.rate:.0f}", f"{cg:.2f}", _codes(gate)]),
            (
                "  gateway/baseline (x)",
                ratio_latency(lg, lb),
                [f"{ratio(gate.rate, base.rate):.2f}", f"{ratio(cg, cb):.2f}", ""],
            ),
        ]
        tag = phase.label
        summary += [
            SummaryRow("admission", f"gateway p50/p95/p99 ms, {tag}", f"{ms(lg.p50)} / {ms(lg.p95)} / {ms(lg.p99)}"),
            SummaryRow("admission", f"baseline p50/p95/p99 ms, {tag}", f"{ms(lb.p50)} / {ms(lb.p95)} / {ms(lb.p99)}"),
            SummaryRow(
                "admission",
                f"gateway p95 ms, {tag}",
                ms(lg.p95),
                f"< {TARGET_P95_MS:.0f} ms",
                verdict(lg.p95 < TARGET_P95_MS),
            ),
            SummaryRow("admission", f"p95 ratio gateway/baseline, {tag}", f"{ratio(lg.p95, lb.p95):.2f}x"),
            SummaryRow(
                "admission",
                f"p95 ratio, median of {len(paired[phase.label])} paired rounds, {tag}",
                f"{statistics.median(paired[phase.label]):.2f}x ("
                + " ".join(f"{r:.2f}" for r in paired[phase.label])
                + ")",
            ),
            SummaryRow("admission", f"req/s gateway / baseline, {tag}", f"{gate.rate:.0f} / {base.rate:.0f}"),
            SummaryRow("admission", f"server CPU ms/req gateway / baseline, {tag}", f"{cg:.2f} / {cb:.2f}"),
        ]
    console.print(
        latency_table(
            "client-side latency: baseline = POST /ping on bench.ping_app, gateway = POST /v1/runs "
            "(depth 1, 1 source); warm-up excluded",
            rows,
            extra_headers=["req/s", "server CPU ms/req", "status codes"],
        )
    )
    console.print(
        "closed loop: at N clients, mean latency ~ N / (req/s) (Little's law); the 1-client rows show one "
        "request's latency without queueing. The six other services were paused during the load."
    )
    errors = {key: dict(r.errors) for key, r in results.items() if r.errors}
    if errors:
        console.print(f"[red]transport errors: {errors}[/red]")
    return summary


async def _measure(
    ping: tuple[str, int], gateway: tuple[str, int], token: str, phases: Sequence[Phase]
) -> tuple[dict[tuple[str, str], LoadResult], dict[str, list[float]]]:
    """Each side's results over all rounds, and each phase's p95 ratio round by round: the two
    sides of one round ran a moment apart, so a stall of the machine that lands in one round moves
    that round's ratio only, where it can move the p95 of all rounds pooled."""
    auth = {"Authorization": f"Bearer {token}"}
    width = max(p.concurrency for p in phases)
    results: dict[tuple[str, str], LoadResult] = {}
    paired: dict[str, list[float]] = {}
    async with clients(ping[0], width) as ping_clients, clients(gateway[0], width) as gw_clients:
        targets = [
            Target("baseline", ping_clients, "/ping", ping[1]),
            Target("gateway", gw_clients, "/v1/runs", gateway[1]),
        ]
        for target in targets:  # warm-up, not counted: opens every connection
            await fire(target.clients, target.path, RUN_BODY, auth, width * 2, width)
        for phase in phases:
            share = [phase.requests // phase.rounds + (i < phase.requests % phase.rounds) for i in range(phase.rounds)]
            for n in share:
                p95: dict[str, float] = {}
                for target in targets:
                    result = results.setdefault((phase.label, target.name), LoadResult())
                    round_result = await _timed(target, RUN_BODY, auth, n, phase.concurrency)
                    result.merge(round_result)
                    p95[target.name] = Latency.of(round_result.latencies_ms).p95
                paired.setdefault(phase.label, []).append(ratio(p95["gateway"], p95["baseline"]))
    return results, paired


async def _timed(target: Target, body: dict[str, Any], auth: dict[str, str], n: int, concurrency: int) -> LoadResult:
    before = procs.usage(target.pid)
    result = await fire(target.clients, target.path, body, auth, n, concurrency)
    after = procs.usage(target.pid)
    if before is not None and after is not None:
        result.server_cpu_s = after.cpu_s - before.cpu_s
    return result


def _codes(result: LoadResult) -> str:
    return " ".join(f"{code}x{count}" for code, count in sorted(result.statuses.items()))
