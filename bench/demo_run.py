"""One research run end to end, as `make demo` does it: its wall time and what each process used.

CPU seconds (utime + stime from /proc/<pid>/stat) are read once the stack is healthy and the
user signed up, and again right after the run's SSE stream ends, so start-up (imports, the
retriever indexing the sample corpus, the sign-up's password hashing) and the run itself are
shown apart. Peak RSS is VmHWM from /proc/<pid>/status after the run: the high-water mark of
the process's whole life, start-up included (the gateway's likely holds argon2id's 64 MiB
memory cost from the sign-up).
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import procs
from bench.report import SummaryRow, timed_step
from devtools import natsserver
from devtools.client import QuarryClient
from devtools.demo import QUESTION
from devtools.stack import Stack, StackConfig

RUN_TIMEOUT_S = 150.0


def run(console: Console, depth: int = 2, max_sources: int = 8) -> list[SummaryRow]:
    console.rule("[bold]3. One demo run")
    with tempfile.TemporaryDirectory(prefix="quarry-bench-demo-") as tmp:
        config = StackConfig(data_dir=Path(tmp), http_port=natsserver.free_port(), restart=False)
        stack = Stack(config)
        outcome: dict[str, Any] = {}
        try:
            started = time.monotonic()
            with console.status("starting nats-server and the seven services..."):
                stack.start()
                stack.wait_healthy(timeout_s=240)
            startup_s = time.monotonic() - started
            client = QuarryClient(f"http://127.0.0.1:{config.http_port}", timeout=RUN_TIMEOUT_S)
            client.signup(f"bench-{uuid.uuid4().hex[:8]}@example.com", "bench-password-123", "Bench tenant")
            time.sleep(1.0)  # let the sign-up's events settle, so the run's figures are the run's
            pids = {name: p.popen.pid for name, p in stack.procs.items()}
            if stack.nats is not None:
                pids["nats-server"] = stack.nats.pid
            at_healthy = {name: procs.usage(pid) for name, pid in pids.items()}
            console.print(f"stack healthy after {startup_s:.1f}s; asking: [italic]{QUESTION}[/italic]")
            timed_step(console, f"running one research run (depth {depth}, {max_sources} sources)...")
            _one_run(client, depth, max_sources, outcome)
            after = {name: procs.usage(pid) for name, pid in pids.items()}
        finally:
            with console.status("stopping every process..."):
                stack.stop()

    wall = outcome.get("wall_s")
    state = outcome.get("state", "unknown")
    if wall is None:
        console.print(f"[red]the run did not finish within {RUN_TIMEOUT_S:.0f}s ({outcome.get('error', '')})[/red]")
    else:
        console.print(
            f"run {state} in [bold]{wall:.2f}s[/bold] from POST /v1/runs to the end of its SSE stream "
            f"({outcome.get('accepted_ms', 0):.1f} ms to 202, {outcome.get('events', 0)} events, "
            f"{outcome.get('sources', 0)} sources cited)"
        )

    table = Table(title="per process, after the run", title_justify="left")
    for head in ("process", "pid", "peak RSS MiB", "RSS MiB", "CPU s start-up", "CPU s run", "CPU s total"):
        table.add_column(head, justify="left" if head == "process" else "right")
    total_peak = total_run = total_cpu = 0.0
    for name, pid in pids.items():
        before, now = at_healthy.get(name), after.get(name)
        if before is None or now is None:
            table.add_row(name, str(pid), "gone", "", "", "", "")
            continue
        run_cpu = now.cpu_s - before.cpu_s
        total_peak += now.peak_rss_mib
        total_run += run_cpu
        total_cpu += now.cpu_s
        table.add_row(
            name,
            str(pid),
            f"{now.peak_rss_mib:.0f}",
            f"{now.rss_mib:.0f}",
            f"{before.cpu_s:.2f}",
            f"{run_cpu:.2f}",
            f"{now.cpu_s:.2f}",
        )
    table.add_row("[bold]all[/bold]", "", f"{total_peak:.0f}", "", "", f"{total_run:.2f}", f"{total_cpu:.2f}")
    console.print(table)
    return [
        SummaryRow("demo run", "stack start to healthy s", f"{startup_s:.1f}"),
        SummaryRow("demo run", f"run wall time s ({state})", "-" if wall is None else f"{wall:.2f}"),
        SummaryRow("demo run", "peak RSS MiB, sum of processes", f"{total_peak:.0f}"),
        SummaryRow("demo run", "CPU s of the run, all processes", f"{total_run:.2f}"),
    ]


def _one_run(client: QuarryClient, depth: int, max_sources: int, outcome: dict[str, Any]) -> None:
    """Request the run and read its SSE stream to the end; bounded by RUN_TIMEOUT_S.

    The stream is read in a daemon thread so a stuck run cannot hang the benchmark: on time-out
    the caller stops the stack, which ends the stream and the thread with it.
    """

    def follow() -> None:
        try:
            started = time.perf_counter()
            run_id = client.create_run(QUESTION, depth=depth, max_sources=max_sources)
            outcome["accepted_ms"] = (time.perf_counter() - started) * 1000
            events = 0
            for ev in client.events(run_id, timeout=RUN_TIMEOUT_S):
                if ev.event == "end":
                    break
                events += 1
            outcome["wall_s"] = time.perf_counter() - started
            outcome["events"] = events
            view = client.run(run_id)
            outcome["state"] = view["state"]
            outcome["sources"] = len(view.get("sources") or [])
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            outcome["error"] = f"{type(exc).__name__}: {exc}"

    reader = threading.Thread(target=follow, name="bench-sse", daemon=True)
    reader.start()
    reader.join(RUN_TIMEOUT_S)
    if not reader.is_alive():
        client.close()
