"""The node leading the event stream of a three-node NATS cluster killed under 50 runs in flight."""

from __future__ import annotations

import asyncio
import time

import pytest

from contracts import subjects
from devtools.stack import Stack
from tests.e2e.outage.nats_outage import (
    NODE_DOWN_S,
    Load,
    assert_healed,
    mid_flight,
    replicas_of_every_stream,
    stream_leader,
)

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.timeout(1200)]


def test_runs_complete_when_the_stream_leader_of_a_three_node_cluster_is_killed(nats_cluster_stack: Stack) -> None:
    stack = nats_cluster_stack
    cluster = stack.nats_cluster
    assert cluster is not None
    load = Load(stack)
    # The event streams and the buckets the services opened (in-flight marks, task journal, rate
    # limits, ...) are all on three replicas: a lost node takes none of them down.
    replicas = asyncio.run(replicas_of_every_stream(stack.nats_url))
    assert {subjects.STREAM, subjects.DEADLETTER_STREAM} < replicas.keys(), replicas
    assert any(name.startswith("KV_") for name in replicas), replicas
    assert set(replicas.values()) == {3}, replicas

    def kill_the_leader() -> str:
        leader = asyncio.run(stream_leader(stack.nats_url))
        cluster.kill(leader)
        time.sleep(NODE_DOWN_S)
        cluster.restart(leader)
        return f"kill -9 of stream leader {leader} for {NODE_DOWN_S:.0f}s"

    try:
        outage = mid_flight(load, kill_the_leader)
        assert_healed(stack, load, outage)
    finally:
        load.close()
