"""Drive many research runs at once through the gateway's REST API and wait for every one to end.

Runs are spread over tenants, `per_tenant` each (the default plan's concurrency: that many runs
may hold credits at once), so no run is refused for a tenant's cap and the platform, not the
plan, is what is measured. Every run is requested at the same moment (one task each, each
with a connection of its own); then each tenant's run list is read about once a second until
every run is terminal, or the budget is spent.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from devtools.client import QuarryClient

TERMINAL = frozenset({"completed", "failed", "rejected", "cancelled", "expired"})
TOPICS = ("context managers", "generators", "decorators", "list comprehensions", "exceptions", "iterators")
RUN_SHAPE = {"depth": 1, "max_sources": 3}
POLL_S = 1.0
# A wave fails as soon as no run has moved (no new event in any pending run's view) for this
# long, well before its budget: a stall is told apart from a machine that is merely slow.
STALL_S = 300.0


class NotDrained(RuntimeError):
    """The runs did not all end (or not all completed) within the bench's budget."""


@dataclass
class Tenant:
    token: str
    tenant_id: str


@dataclass
class Run:
    run_id: str
    tenant: Tenant
    requested_at: float  # perf_counter when its POST was sent
    ended_at: float | None = None  # when a poll first saw it terminal
    state: str = "requested"
    error: str | None = None
    view: dict[str, Any] = field(default_factory=dict)

    @property
    def latency_s(self) -> float:
        return (self.ended_at or float("nan")) - self.requested_at


@dataclass
class Drain:
    """What one wave of runs did: when it started, when the last run ended, each run."""

    started_at: float
    runs: list[Run]
    refused: Counter[str] = field(default_factory=Counter)
    ended_at: float = float("nan")
    settled_at: float = float("nan")
    polls: int = 0

    @property
    def drain_s(self) -> float:
        return self.ended_at - self.started_at

    @property
    def states(self) -> Counter[str]:
        return Counter(run.state for run in self.runs)


def sign_up(base_url: str, count: int, label: str) -> list[Tenant]:
    """`count` new tenants on the default plan, one owner each (sequential: argon2id's memory cost
    per hash is what the gateway bounds, and the sign-ups are not what is measured)."""
    tenants = []
    for i in range(count):
        client = QuarryClient(base_url, timeout=60.0)
        try:
            body = client.signup(f"{label}{i}-{uuid.uuid4().hex[:8]}@example.com", "bench-password-123", f"{label} {i}")
        finally:
            client.close()
        tenants.append(Tenant(body["access_token"], body["tenant_id"]))
    return tenants


async def drive(base_url: str, tenants: Sequence[Tenant], runs: int, per_tenant: int, budget_s: float) -> Drain:
    """Request `runs` runs at once, `per_tenant` to a tenant, and wait until all are terminal and
    their costs closed; NotDrained when that takes longer than `budget_s`."""
    if len(tenants) * per_tenant < runs:
        raise ValueError(f"{runs} runs need {-(-runs // per_tenant)} tenants, got {len(tenants)}")
    limits = httpx.Limits(max_connections=runs + len(tenants), max_keepalive_connections=runs + len(tenants))
    async with httpx.AsyncClient(base_url=base_url, timeout=120.0, limits=limits) as http:
        started = time.perf_counter()
        deadline = started + budget_s
        drain = Drain(started, [])
        accepted = await asyncio.gather(*(_request(http, tenants[i // per_tenant], i, drain) for i in range(runs)))
        drain.runs = [run for run in accepted if run is not None]
        if drain.refused:
            raise NotDrained(
                f"{sum(drain.refused.values())} of {runs} runs refused at admission: {dict(drain.refused)}"
            )
        await _until_ended(http, drain, deadline)
        drain.ended_at = max(run.ended_at or started for run in drain.runs)
        await _until_settled(http, drain, deadline)
        drain.settled_at = time.perf_counter()
    return drain


async def _request(http: httpx.AsyncClient, tenant: Tenant, n: int, drain: Drain) -> Run | None:
    body = {"question": f"How do {TOPICS[n % len(TOPICS)]} work in Python (run {n})?", **RUN_SHAPE}
    sent = time.perf_counter()
    try:
        response = await http.post("/v1/runs", json=body, headers=_auth(tenant))
    except httpx.HTTPError as exc:
        drain.refused[type(exc).__name__] += 1
        return None
    if response.status_code != 202:
        drain.refused[f"{response.status_code} {response.text[:120]}"] += 1
        return None
    return Run(str(response.json()["run_id"]), tenant, sent)


async def _until_ended(http: httpx.AsyncClient, drain: Drain, deadline: float) -> None:
    pending = {run.run_id: run for run in drain.runs}
    last_event: dict[str, str] = {}
    moved_at = time.perf_counter()
    while pending:
        if time.perf_counter() > deadline:
            raise NotDrained(_stuck("not terminal", pending.values(), drain))
        if time.perf_counter() - moved_at > STALL_S:
            raise NotDrained(_stuck(f"stalled (no new event in {STALL_S:.0f}s)", pending.values(), drain))
        began = time.perf_counter()
        owners = {run.tenant.tenant_id: run.tenant for run in pending.values()}
        listed = await asyncio.gather(*(_list(http, tenant) for tenant in owners.values()))
        drain.polls += 1
        seen = time.perf_counter()
        for rows in listed:
            for row in rows:
                run = pending.get(str(row["run_id"]))
                if run is None:
                    continue
                run.state, run.error = str(row["state"]), row.get("error")
                if last_event.get(run.run_id) != row.get("updated_at"):
                    last_event[run.run_id] = str(row.get("updated_at"))
                    moved_at = seen
                if run.state in TERMINAL:
                    run.ended_at = seen
                    del pending[run.run_id]
        await asyncio.sleep(max(0.0, POLL_S - (time.perf_counter() - began)))
    failed = [run for run in drain.runs if run.state != "completed"]
    if failed:
        raise NotDrained(_stuck("ended but not completed", failed, drain))


async def _until_settled(http: httpx.AsyncClient, drain: Drain, deadline: float) -> None:
    """Every run's credits settled or refunded to the credit (reserved = settled + refunded)."""
    pending = list(drain.runs)
    while pending:
        if time.perf_counter() > deadline:
            raise NotDrained(_stuck("cost not closed", pending, drain))
        views = await asyncio.gather(*(_view(http, run) for run in pending))
        for run, view in zip(pending, views, strict=True):
            run.view = view
        open_runs = [run for run in pending if not run.view.get("cost", {}).get("closed")]
        for run in pending:
            cost = run.view.get("cost", {})
            if cost.get("closed") and cost["reserved"] != cost["settled"] + cost["refunded"]:
                raise NotDrained(f"run {run.run_id}'s ledger does not balance: {cost}")
        pending = open_runs
        if pending:
            await asyncio.sleep(POLL_S)


async def _list(http: httpx.AsyncClient, tenant: Tenant) -> list[dict[str, Any]]:
    try:
        response = await http.get("/v1/runs", params={"limit": 200}, headers=_auth(tenant))
    except httpx.HTTPError:
        return []  # a slow answer is retried at the next poll; the budget bounds the wait
    if response.status_code != 200:
        return []
    rows: list[dict[str, Any]] = response.json()["runs"]
    return rows


async def _view(http: httpx.AsyncClient, run: Run) -> dict[str, Any]:
    try:
        response = await http.get(f"/v1/runs/{run.run_id}", headers=_auth(run.tenant))
    except httpx.HTTPError:
        return run.view
    if response.status_code != 200:
        return run.view
    view: dict[str, Any] = response.json()
    return view


def _stuck(what: str, runs: Sequence[Run] | Any, drain: Drain) -> str:
    runs = list(runs)
    elapsed = time.perf_counter() - drain.started_at
    sample = "; ".join(f"{r.run_id} {r.state}{': ' + str(r.error) if r.error else ''}" for r in runs[:5])
    return (
        f"{len(runs)} of {len(drain.runs)} runs {what} after {elapsed:.0f}s "
        f"(states {dict(drain.states)}); e.g. {sample}"
    )


def _auth(tenant: Tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.token}"}
