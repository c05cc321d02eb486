"""Run admission: `POST /v1/runs` on the gateway under concurrent load, beside a trivial FastAPI app.

What is timed is the gateway's synchronous path to `202 Accepted`: authenticate the bearer
token, validate the body, publish `RunRequested` to JetStream and wait for its ack, record it
in the gateway's read model. To time that path and not the saga it sets off, the six other
services are paused (SIGSTOP) once the stack is healthy and the user signed up, and resumed
(SIGCONT) only after the load; nats-server and the gateway (including its own projection
consumers, which see every run.* event it publishes) keep running. The accepted runs are then
processed briefly - billing denies most, a free tenant has 500 credits - until the stack is
stopped.

The baseline is `bench.ping_app` (FastAPI + uvicorn, `POST /ping` -> {"ok": true}) under the
same load from the same client. Both are measured while the stack is up and paused, in
alternating rounds, so drift on a noisy machine hits both alike.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console

from bench import procs
from bench.load import LoadResult, fire, pooled_client
from bench.report import Latency, SummaryRow, latency_table, ms, ratio, verdict
from devtools.client import QuarryClient
from devtools.stack import Stack, StackConfig
from quarry_runtime import natsserver

TARGET_P95_MS = 50.0
QUESTION = "How does the with statement work in Python?"


def run(console: Console, requests: int = 1000, concurrency: int = 50, rounds: int = 2) -> list[SummaryRow]:
    console.rule("[bold]1. Run admission: POST /v1/runs")
    with tempfile.TemporaryDirectory(prefix="quarry-bench-admission-") as tmp:
        data = Path(tmp)
        (data / "logs").mkdir()
        ping_port = natsserver.free_port()
        ping = procs.start_python_module(["bench.ping_app", str(ping_port)], data / "logs" / "ping_app.log")
        stack: Stack | None = None
        paused: list[int] = []
        try:
            procs.wait_http_ok(f"http://127.0.0.1:{ping_port}/healthz", ping)
            config = StackConfig(data_dir=data / "stack", http_port=natsserver.free_port(), restart=False)
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
            client.close()
            time.sleep(2.0)  # let the sign-up's events settle before pausing anything
            paused = [p.popen.pid for name, p in stack.procs.items() if name != "gateway"]
            procs.pause(paused)
            console.print(f"paused {len(paused)} services (all but the gateway) for the measurement")
            base, gate = asyncio.run(
                _measure(f"http://127.0.0.1:{ping_port}", gateway_url, token, requests, concurrency, rounds)
            )
        finally:
            procs.resume(paused)
            with console.status("stopping the stack and the baseline app..."):
                if stack is not None:
                    stack.stop()
                procs.stop_process(ping)

    lb, lg = Latency.of(base.latencies_ms), Latency.of(gate.latencies_ms)
    console.print(
        latency_table(
            f"{requests} requests each, {concurrency} concurrent clients (httpx pool of {concurrency}), "
            f"{rounds} alternating rounds",
            [
                ("baseline POST /ping", lb, f"{base.rate:.0f}"),
                ("gateway POST /v1/runs", lg, f"{gate.rate:.0f}"),
                ("ratio gateway/baseline", _ratio_lat(lg, lb), f"{ratio(gate.rate, base.rate):.2f}x"),
            ],
            extra_header="req/s",
        )
    )
    console.print(f"status codes: baseline {dict(base.statuses)}, gateway {dict(gate.statuses)}")
    if base.errors or gate.errors:
        console.print(f"[red]transport errors: baseline {dict(base.errors)}, gateway {dict(gate.errors)}[/red]")
    return [
        SummaryRow("admission", "gateway p50 / p95 / p99 ms", f"{ms(lg.p50)} / {ms(lg.p95)} / {ms(lg.p99)}"),
        SummaryRow("admission", "gateway p95 ms", ms(lg.p95), f"< {TARGET_P95_MS:.0f} ms", verdict(lg.p95 < 50.0)),
        SummaryRow("admission", "gateway req/s", f"{gate.rate:.0f}"),
        SummaryRow("admission", "baseline p50 / p95 / p99 ms", f"{ms(lb.p50)} / {ms(lb.p95)} / {ms(lb.p99)}"),
        SummaryRow("admission", "baseline req/s", f"{base.rate:.0f}"),
        SummaryRow("admission", "p95 ratio gateway/baseline", f"{ratio(lg.p95, lb.p95):.2f}x"),
        SummaryRow("admission", "throughput ratio gateway/baseline", f"{ratio(gate.rate, base.rate):.2f}x"),
        SummaryRow("admission", "gateway 202s", f"{gate.statuses.get(202, 0)} / {requests}"),
    ]


async def _measure(
    ping_url: str, gateway_url: str, token: str, requests: int, concurrency: int, rounds: int
) -> tuple[LoadResult, LoadResult]:
    run_body = {"question": QUESTION, "depth": 1, "max_sources": 1}
    auth = {"Authorization": f"Bearer {token}"}
    base, gate = LoadResult(), LoadResult()
    async with pooled_client(ping_url, concurrency) as ping, pooled_client(gateway_url, concurrency) as gw:
        # Warm-up (not counted): opens every pooled connection and warms both servers.
        await fire(ping, "/ping", run_body, auth, concurrency * 2, concurrency)
        await fire(gw, "/v1/runs", run_body, auth, concurrency * 2, concurrency)
        per_round = [requests // rounds + (1 if i < requests % rounds else 0) for i in range(rounds)]
        for n in per_round:
            base.merge(await fire(ping, "/ping", run_body, auth, n, concurrency))
            gate.merge(await fire(gw, "/v1/runs", run_body, auth, n, concurrency))
    return base, gate


def _ratio_lat(a: Latency, b: Latency) -> Latency:
    return Latency(
        a.n, ratio(a.p50, b.p50), ratio(a.p95, b.p95), ratio(a.p99, b.p99), ratio(a.mean, b.mean), ratio(a.max, b.max)
    )
