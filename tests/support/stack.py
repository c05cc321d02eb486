"""A whole stack in its own processes, and what tests do to it: new tenants, runs, their views."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devtools import natsserver
from devtools.client import QuarryClient
from devtools.stack import SERVICES, Stack, StackConfig
from services.gateway.settings import GatewaySettings
from tests.fakes.llm import API_KEY
from tests.support.polling import wait_for

# What makes a client of one stack: a QuarryClient class bound to its gateway.
ClientFactory = Callable[[], QuarryClient]


def new_tenant(factory: ClientFactory, name: str) -> QuarryClient:
    """A client signed up as the owner of a new tenant."""
    client = factory()
    client.signup(f"{name}-{uuid.uuid4().hex[:6]}@example.com", "correct-horse-battery", name)
    return client


def on_plan(client: QuarryClient, plan: str) -> QuarryClient:
    """Move the client's tenant to `plan` (mock billing applies a checkout at once); reading datasets
    (read_dataset) and fetching pages (fetch_url) are on the paid plans only."""
    r = client.http.post(
        "/v1/billing/checkout",
        json={"kind": "subscription", "item": plan},
        headers={"Authorization": f"Bearer {client.token}"},
    )
    assert r.status_code == 201 and r.json()["completed"], r.text
    return client


def indexed_upload(client: QuarryClient, title: str, text: str) -> str:
    """Uploads a markdown document and waits until the retriever has indexed it; its id."""
    doc_id = client.upload(title, text, "text/markdown")
    wait_for(
        lambda: any(
            d["document_id"] == doc_id and d["status"] == "indexed"
            for d in client.get("/v1/documents").json()["documents"]
        ),
        what=f"{title!r} to be indexed",
    )
    return doc_id


@contextmanager
def running(config: StackConfig, timeout_s: float = 240) -> Iterator[Stack]:
    """A whole stack, healthy, stopped (every process) however the block ends."""
    stack = Stack(config)
    try:
        stack.start()
        stack.wait_healthy(timeout_s=timeout_s)
        yield stack
    finally:
        stack.stop()


def live_analyst_config(data_dir: Path, llm_url: str, model: str, **extra_env: str) -> StackConfig:
    """A stack on the embedded default, on a free port, whose analyst plans and writes with the
    (fake) model at `llm_url`; `extra_env` adds to its environment."""
    env = {
        "QUARRY_ANALYST_MODE": "live",
        "QUARRY_LLM_BASE_URL": llm_url,
        "QUARRY_LLM_API_KEY": API_KEY,
        "QUARRY_LLM_MODEL": model,
    }
    return StackConfig(data_dir=data_dir, http_port=natsserver.free_port(), extra_env={**extra_env, **env})


@contextmanager
def clients_of(stack: Stack) -> Iterator[ClientFactory]:
    """A QuarryClient class bound to the stack's gateway; every client made of it is closed after."""
    clients: list[QuarryClient] = []

    class Bound(QuarryClient):
        def __init__(self) -> None:
            super().__init__(f"http://127.0.0.1:{stack.config.http_port}")
            clients.append(self)

    try:
        yield Bound
    finally:
        for c in clients:
            c.close()


def ask(client: QuarryClient, **body: Any) -> str:
    """POST /v1/runs with any fields; the run id."""
    r = client.http.post("/v1/runs", json=body, headers={"Authorization": f"Bearer {client.token}"})
    assert r.status_code == 202, r.text
    return str(r.json()["run_id"])


def completed_run(client: QuarryClient, question: str) -> str:
    """A small run of `question` (depth 1, four sources) followed to its end, which it reached
    completed; the run id."""
    run_id = client.create_run(question, depth=1, max_sources=4)
    assert list(client.events(run_id))[-1].event == "end"
    view = client.run(run_id)
    assert view["state"] == "completed", view.get("error")
    return run_id


TERMINAL = frozenset({"completed", "failed", "rejected", "cancelled", "expired"})


def views_of(runs: dict[str, QuarryClient]) -> dict[str, dict[str, Any]]:
    """Each run's view as its owner sees it; "unknown" while the gateway cannot answer (chaos)."""
    out: dict[str, dict[str, Any]] = {}
    for run_id, client in runs.items():
        try:
            out[run_id] = client.run(run_id)
        except Exception:  # noqa: BLE001 - the gateway may be briefly unreachable, or its consumers behind
            out[run_id] = {"state": "unknown", "cost": {"closed": False}}
    return out


def until_settled(runs: dict[str, QuarryClient], timeout_s: float = 240) -> dict[str, dict[str, Any]]:
    """Poll until every run is terminal with its cost closed, or the time is up; the last views."""
    deadline = time.monotonic() + timeout_s
    latest = views_of(runs)
    while time.monotonic() < deadline:
        if all(v["state"] in TERMINAL and v["cost"]["closed"] for v in latest.values()):
            break
        time.sleep(1.0)
        latest = views_of(runs)
    return latest


def gateway_settings(stack: Stack) -> GatewaySettings:
    """The gateway's settings in `stack`, for reading its store (or rebuilding it) from a test."""
    return GatewaySettings(
        data_dir=stack.data_dir,
        nats_url=stack.nats_url,
        database_url=stack.config.database_url,
        db_schema_prefix=stack.config.db_schema_prefix,
    )


def stuck_run(stack: Stack, client: QuarryClient, run_id: str) -> str:
    """What a run that did not end had got to, for a failure message: its state, its last events
    and the end of each service's log (a stack's logs live in a temporary directory pytest rotates)."""
    view = client.run(run_id)
    events = client.get(f"/v1/runs/{run_id}/log").json()["events"]
    last = [f"{e['event']['type']} {e['event'].get('payload', {}).get('task_id', '')}".rstrip() for e in events[-15:]]
    tails = "\n".join(f"--- {name}.log ---\n{stack.tail(name, 15)}" for name in SERVICES)
    return f"state {view['state']}, {len(events)} events, the last: {last}\n{tails}"
