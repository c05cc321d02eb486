"""`make demo`: one real research run through every service, shown live from the SSE stream."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace
from typing import Any

from rich.console import Console

from devtools import natsserver
from devtools.client import QuarryClient
from devtools.stack import Stack, StackConfig

DEMO_PASSWORD = "demo-password-123"
QUESTION = "How does the with statement work in Python, and what are context managers used for?"


def run_demo(config: StackConfig, console: Console) -> int:
    config = replace(config, http_port=natsserver.free_port())
    started = time.monotonic()
    console.rule("[bold]Quarry demo")
    console.print(f"data directory: {config.data_dir.resolve()}")
    with console.status("starting nats-server and the seven services (the retriever indexes the sample corpus)..."):
        stack = Stack(config)
        stack.start()
    try:
        with console.status("waiting for every service to report healthy..."):
            stack.wait_healthy(timeout_s=240)
        console.print(
            f"[green]all services healthy[/green] after {time.monotonic() - started:.1f}s; "
            f"gateway on http://127.0.0.1:{config.http_port}"
        )
        client = QuarryClient(f"http://127.0.0.1:{config.http_port}")
        email = f"demo-{uuid.uuid4().hex[:8]}@example.com"
        client.signup(email, DEMO_PASSWORD, "Demo tenant")
        console.print(f"signed up [bold]{email}[/bold] (a new tenant on the free plan)")
        run_id = client.create_run(QUESTION, depth=2, max_sources=8)
        console.print(f"asked: [italic]{QUESTION}[/italic]\nrun [bold]{run_id}[/bold] accepted; live progress:")
        for ev in client.events(run_id):
            _show(console, ev.event, ev.data)
        view = client.run(run_id)
        console.rule(f"run {view['state']}")
        if view["state"] != "completed":
            console.print(f"[red]the run ended {view['state']}: {view.get('error')}[/red]")
            return 1
        report = view["report"]
        md = client.get(f"/v1/runs/{run_id}/report.md")
        console.print(md.text[:1500] + ("\n..." if len(md.text) > 1500 else ""))
        console.rule("reports")
        console.print(f"Markdown: {report['markdown']['path']}  (sha256 {report['markdown']['sha256'][:16]}...)")
        console.print(f"PDF:      {report['pdf']['path']}  (sha256 {report['pdf']['sha256'][:16]}...)")
        if report.get("docx"):
            console.print(f"Word:     {report['docx']['path']}  (sha256 {report['docx']['sha256'][:16]}...)")
        cost = view["cost"]
        console.print(
            f"sources cited: {len(view['sources'])}; credits reserved {cost['reserved']}, "
            f"settled {cost['settled']}, refunded {cost['refunded']}"
        )
        console.print(f"done in {time.monotonic() - started:.1f}s")
        console.rule("see it in the browser")
        console.print(
            f"This run is kept in {config.data_dir}. Start the stack on the same data with "
            "[bold]make up[/bold], open http://127.0.0.1:8000/login and log in as\n"
            f"  Email:    [bold]{email}[/bold]\n  Password: [bold]{DEMO_PASSWORD}[/bold]\n"
            f"then open http://127.0.0.1:8000/research/runs/{run_id} (make down stops it)."
        )
        client.close()
        return 0
    finally:
        with console.status("stopping every process..."):
            stack.stop()


def _show(console: Console, kind: str, data: str) -> None:
    if kind == "end":
        return
    ev = json.loads(data)
    p = ev.get("payload", {})
    stamp = ev.get("occurred_at", "")[11:19]
    line: Any = {
        "run.requested": lambda: "run requested",
        "credits.reserved": lambda: f"billing reserved {p['amount']} credits",
        "credits.denied": lambda: f"[red]billing denied: {p['reason']}[/red]",
        "run.admitted": lambda: "run admitted",
        "tool.decided": lambda: f"policy: {p['tool']} -> {p['decision']} ({', '.join(p['policy_ids']) or 'default'})",
        "run.step_changed": lambda: f"step {p['step']:<10} {p['status']:<8} {p.get('detail', '')}",
        "run.planned": lambda: "plan: " + " | ".join(p["sub_questions"]),
        "report.published": lambda: f"report published: {p['title']}",
        "credits.settled": lambda: f"billing settled {p['amount']} credits",
        "credits.refunded": lambda: f"billing refunded {p['amount']} credits",
        "run.completed": lambda: "[green]run completed[/green]",
        "run.failed": lambda: f"[red]run failed: {p['reason']}[/red]",
        "run.rejected": lambda: f"[red]run rejected: {p['reason']}[/red]",
        "run.waiting_approval": lambda: f"[yellow]waiting for approval until {p['deadline'][:19]}[/yellow]",
        "run.resumed": lambda: f"approved by {p.get('approved_by')}",
        "run.cancelled": lambda: f"[yellow]run cancelled: {p['reason']}[/yellow]",
        "run.expired": lambda: f"[red]run expired: {p['reason']}[/red]",
    }.get(kind)
    if line:
        console.print(f"  {stamp}  {line()}")
