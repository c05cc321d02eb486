"""What the broker outage tests share: 50 runs in flight while a node of a three-node cluster is
killed (test_nats_outage_cluster.py), or while the one server restarts (test_nats_outage_single.py).

Each test, a file of its own so that xdist runs them on different workers, starts a stack of its
own (SQLite stores, loopback only), signs up ten tenants, starts five runs for each (the free
plan's concurrency), and takes the broker away mid-flight: on a three-node cluster (streams and
buckets on three replicas) the node leading the event stream is killed with SIGKILL and started
again; on a single node, the server is restarted. Then, within a fixed budget: every run has
completed (none failed for the outage), nothing was dead-lettered, the gateway's views match the
ones a fresh replay of the log builds, and every tenant's ledger, read from billing's own store,
balances to the credit.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import nats
import nats.errors

from contracts import subjects
from devtools import natsserver
from devtools.client import QuarryClient
from devtools.replay import rebuild
from devtools.stack import Stack, StackConfig
from services.gateway.settings import GatewaySettings
from tests.support.ledgers import balanced_reservations
from tests.support.polling import wait_for
from tests.support.stack import TERMINAL, until_settled, views_of

TENANTS = 10
RUNS_PER_TENANT = 5  # the free plan's concurrency: none is refused for holding too many
RUNS = TENANTS * RUNS_PER_TENANT
NODE_DOWN_S = 10.0
SETTLE_S = 600.0
TOPICS = ("context managers", "generators", "decorators", "list comprehensions", "exceptions")


def config(data_dir: Path, nats_nodes: int) -> StackConfig:
    return StackConfig(
        data_dir=data_dir,
        http_port=natsserver.free_port(),
        nats_nodes=nats_nodes,
        # A short ack wait: what a lost node took in hand comes back within seconds.
        extra_env={"QUARRY_ACK_WAIT_S": "5"},
    )


class Load:
    """Ten tenants with five runs each, in flight."""

    def __init__(self, stack: Stack) -> None:
        base = f"http://127.0.0.1:{stack.config.http_port}"
        self.clients: list[QuarryClient] = []
        self.tenants: list[str] = []
        self.runs: dict[str, QuarryClient] = {}
        for t in range(TENANTS):
            client = QuarryClient(base)
            body = client.signup(f"outage{t}-{uuid.uuid4().hex[:6]}@example.com", "correct-horse-battery", f"t{t}")
            self.clients.append(client)
            self.tenants.append(str(body["tenant_id"]))
        for n in range(RUNS):
            client = self.clients[n % TENANTS]
            question = f"How do {TOPICS[n % len(TOPICS)]} work in Python (case {n})?"
            self.runs[client.create_run(question, depth=1, max_sources=3)] = client

    def finished(self) -> int:
        return sum(1 for v in views_of(self.runs).values() if v["state"] in TERMINAL)

    def close(self) -> None:
        for client in self.clients:
            client.close()


def mid_flight(load: Load, outage: Callable[[], str]) -> str:
    """Take the broker away once runs are under way (some started, most not finished)."""
    wait_for(lambda: load.finished() < RUNS, 30, "runs in flight")
    before = load.finished()
    what = outage()
    print(f"{what} with {before}/{RUNS} runs finished")
    assert before < RUNS * 0.8, f"the outage came too late to matter: {before}/{RUNS} runs had finished"
    return what


async def stream_leader(nats_url: str) -> str:
    nc = await nats.connect(servers=nats_url.split(","), connect_timeout=5, allow_reconnect=False)
    try:
        info = await nc.jetstream().stream_info(subjects.STREAM)
        assert info.cluster is not None and info.cluster.leader, info.cluster
        return info.cluster.leader
    finally:
        await nc.close()


async def replicas_of_every_stream(nats_url: str) -> dict[str, int]:
    """Each stream's replicas: the event streams' and every bucket's and object store's."""
    nc = await nats.connect(servers=nats_url.split(","), connect_timeout=5, allow_reconnect=False)
    try:
        return {info.config.name or "": info.config.num_replicas or 1 for info in await nc.jetstream().streams_info()}
    finally:
        await nc.close()


async def dead_letters(nats_url: str) -> list[str]:
    """Every dead letter's subject and reason."""
    nc = await nats.connect(servers=nats_url.split(","), connect_timeout=5, allow_reconnect=False)
    try:
        js = nc.jetstream()
        if not (await js.stream_info(subjects.DEADLETTER_STREAM)).state.messages:
            return []
        sub = await js.pull_subscribe(">", stream=subjects.DEADLETTER_STREAM)
        try:
            letters = await sub.fetch(100, timeout=2)
        except nats.errors.TimeoutError:
            return ["(the dead-letter stream holds messages that could not be read)"]
        return [
            f"{m.subject}: {(m.headers or {}).get('Quarry-Subject')}: {(m.headers or {}).get('Quarry-Reason')}"
            for m in letters
        ]
    finally:
        await nc.close()


async def gateway_backlog(nats_url: str) -> int:
    """Messages the gateway's consumers have not yet taken and acknowledged."""
    nc = await nats.connect(servers=nats_url.split(","), connect_timeout=5, allow_reconnect=False)
    try:
        infos = await nc.jetstream().consumers_info(subjects.STREAM)
        return sum((i.num_pending or 0) + (i.num_ack_pending or 0) for i in infos if i.name.startswith("gateway-"))
    finally:
        await nc.close()


def assert_healed(stack: Stack, load: Load, outage: str) -> None:
    started = time.monotonic()
    latest = until_settled(load.runs, timeout_s=SETTLE_S)
    states = Counter(str(v["state"]) for v in latest.values())
    print(f"{outage}: settled in {time.monotonic() - started:.0f}s after the outage began: {dict(states)}")
    assert states == Counter(completed=RUNS), f"after {outage}: {dict(states)}"
    for run_id, view in latest.items():
        cost = view["cost"]
        assert cost["closed"] and cost["reserved"] == cost["settled"] + cost["refunded"], (run_id, cost)

    stack.wait_healthy(timeout_s=120)
    assert asyncio.run(dead_letters(stack.nats_url)) == [], f"dead-lettered during {outage}"

    # The gateway's views are what a fresh replay of the log builds: it missed nothing.
    wait_for(lambda: asyncio.run(gateway_backlog(stack.nats_url)) == 0, 60.0, "the gateway to catch up")
    settings = GatewaySettings(
        data_dir=stack.data_dir, nats_url=stack.nats_url, db_schema_prefix=stack.config.db_schema_prefix
    )
    report = asyncio.run(rebuild(settings))
    assert report.identical, "\n".join(report.differences[:20])
    assert report.runs_live == report.runs_rebuilt == RUNS

    # The ledger, read from billing's own store once the stack is down, balances to the credit.
    stack.stop()
    assert balanced_reservations(stack.data_dir, load.tenants) == RUNS
