"""A bus across a restart of its nats-server: the client reconnects (forever, by configuration,
not nats-py's default of giving up after a minute or two) and its consumers carry on."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

from contracts import subjects
from contracts.run import RunRequested, RunRequestedPayload
from devtools import natsserver
from quarry_runtime.bus import NATS_RECONNECT_ATTEMPTS, Bus, Subscription
from quarry_security import natsauth
from tests.support.polling import eventually
from tests.support.restartable_nats import Server, server

pytestmark = pytest.mark.infra
__all__ = ["server"]  # the fixture


def request() -> RunRequested:
    return RunRequested.create(
        RunRequestedPayload(question="how do tides work?", depth=1, max_sources=5),
        tenant_id=uuid.uuid4().hex,
        run_id=str(uuid.uuid4()),
    )


@contextlib.asynccontextmanager
async def recording_bus(server: Server, durable: str) -> AsyncIterator[tuple[Bus, list[str]]]:
    """The orchestrator's bus on `server`, and the ids of the requested runs it consumes as `durable`."""
    bus = Bus(server.url, "orchestrator")
    got: list[str] = []

    async def handle(event: RunRequested) -> None:
        got.append(event.event_id)

    bus.subscribe(Subscription(subjects.RUN_REQUESTED, durable, handle))
    await bus.start()
    try:
        yield bus, got
    finally:
        await bus.stop()


async def test_a_bus_carries_on_after_its_server_restarts(server: Server) -> None:
    async with recording_bus(server, "restart-test") as (bus, got):
        # nats-py's default gives up after 60 attempts, 2 s apart: a longer outage left the
        # service disconnected for good.
        assert bus.broker.connection.options["max_reconnect_attempts"] == NATS_RECONNECT_ATTEMPTS == -1
        first, second = request(), request()
        await bus.publish(first)
        await eventually(lambda: first.event_id in got, 10, "delivered before the restart")

        server.stop()
        await asyncio.sleep(2.0)
        server.start()

        await eventually(lambda: published(bus, second), 20, "the bus to reconnect", every_s=0.5)
        await eventually(lambda: second.event_id in got, 20, "delivered after the restart")
        assert bus.broker.connection.is_connected
        assert got.count(first.event_id) == 1


async def published(bus: Bus, event: RunRequested) -> bool:
    """Whether `event` went out; a publish in an outage fails, and its caller (an outbox) retries."""
    try:
        await bus.publish(event)
    except Exception:  # noqa: BLE001 - not reconnected yet
        return False
    return True


async def test_a_bus_reconnects_after_a_server_refused_its_user_for_a_while(server: Server) -> None:
    """A server back before its users are (a stale configuration, a node of a cluster that the
    client reaches first) answers the reconnect with an authorization violation; faststream
    re-raised that from the error callback, which ended nats-py's reconnecting for good."""
    async with recording_bus(server, "refused-test") as (bus, got):
        first, second = request(), request()
        await bus.publish(first)
        await eventually(lambda: first.event_id in got, 10, "delivered before the restart")

        server.stop()
        stranger = natsauth.write_server_config(server.root / "stranger.conf", {}, admin=("someone-else", "x"))
        log = server.root / "stranger.log"
        server.proc, _ = natsserver.start(server.root / "store", port=server.port, log_file=log, config_file=stranger)
        await eventually(lambda: "authentication error" in log.read_text(), 30, "a reconnect refused by the server")
        server.stop()
        server.start()

        await eventually(lambda: published(bus, second), 30, "the bus to reconnect after being refused", every_s=0.5)
        await eventually(lambda: second.event_id in got, 20, "delivered after the refusal")
