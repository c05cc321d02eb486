"""The pull consumers' own fetch (quarry_runtime.pullfetch) against a real JetStream: what ends a
fetch (its batch, the server's 404 or 408), what is taken before asking (leftovers, never a stale
status), and the server's refusals (a 409 waited out, a 503 raised) and a closed connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import ServiceUnavailableError

from quarry_runtime.pullfetch import ANSWER_GRACE_S, PullFetch, status_of
from tests.support.polling import eventually

pytestmark = pytest.mark.infra


@dataclass
class Pulled:
    connection: Client
    js: JetStreamContext
    pull: JetStreamContext.PullSubscription
    fetch: PullFetch
    stream: str
    subject: str

    async def publish(self, *bodies: str) -> None:
        for body in bodies:
            await self.js.publish(self.subject, body.encode(), stream=self.stream)

    def queued(self) -> int:
        return self.pull._sub._pending_queue.qsize()


@contextlib.asynccontextmanager
async def pulled(nats_url: str, **consumer: object) -> AsyncIterator[Pulled]:
    """A stream of the test's own and a durable pull consumer on it (`consumer`: more of its config)."""
    name = uuid.uuid4().hex[:10]
    stream, subject = f"PF_{name}", f"pf.{name}.x"
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        await js.add_stream(StreamConfig(name=stream, subjects=[f"pf.{name}.>"]))
        config = {"durable_name": "d", "ack_policy": "explicit", **consumer}
        # The JSON API, not nats-py's ConsumerConfig: it has no max_batch.
        await connection.request(
            f"$JS.API.CONSUMER.CREATE.{stream}.d", json.dumps({"stream_name": stream, "config": config}).encode()
        )
        pull = await js.pull_subscribe_bind("d", stream=stream)
        yield Pulled(connection, js, pull, PullFetch(pull), stream, subject)
    finally:
        with contextlib.suppress(Exception):
            await connection.jetstream().delete_stream(stream)
        await connection.close()


def bodies(msgs: list[Msg]) -> list[str]:
    return [m.data.decode() for m in msgs]


async def test_a_fetch_brings_what_there_is_at_once_and_leaves_no_status_behind(nats_url: str) -> None:
    async with pulled(nats_url) as p:
        await p.publish("a", "b", "c")
        started = time.monotonic()
        msgs = await p.fetch.fetch(8, 2.0)
        assert bodies(msgs) == ["a", "b", "c"]
        assert time.monotonic() - started < 1.0  # the server's 404 ended it, not the 2 s
        assert p.queued() == 0  # that 404 was read, not left to end the next fetch


async def test_a_fetch_takes_no_more_than_its_batch(nats_url: str) -> None:
    async with pulled(nats_url) as p:
        await p.publish("a", "b", "c", "d", "e")
        taken = [bodies(await p.fetch.fetch(2, 1.0)) for _ in range(3)]
        assert taken == [["a", "b"], ["c", "d"], ["e"]]


async def test_a_fetch_with_nothing_to_take_ends_with_the_servers_timeout(nats_url: str) -> None:
    async with pulled(nats_url) as p:
        started = time.monotonic()
        assert await p.fetch.fetch(8, 0.3) == []
        waited = time.monotonic() - started
        assert 0.29 <= waited < 0.3 + ANSWER_GRACE_S  # the server's 408, before the fetch's own deadline
        assert p.queued() == 0


async def test_a_message_published_while_a_fetch_waits_ends_it(nats_url: str) -> None:
    async with pulled(nats_url) as p:
        waiting = asyncio.create_task(p.fetch.fetch(8, 5.0))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await p.publish("late")
        assert bodies(await asyncio.wait_for(waiting, 2.0)) == ["late"]
        assert time.monotonic() - started < 1.0


async def test_leftovers_are_taken_first_without_asking_and_stale_statuses_dropped(nats_url: str) -> None:
    async with pulled(nats_url) as p:
        await p.publish("a", "b")
        # A request of the consumer's that no fetch waits for any more: its answers stay in the queue.
        stale = {"batch": 3, "no_wait": True}
        await p.connection.publish(p.pull._nms, json.dumps(stale).encode(), p.pull._deliver)
        await eventually(lambda: p.queued() == 3, 5, "two messages and the 404 queued")
        assert bodies(await p.fetch.fetch(1, 5.0)) == ["a"]
        assert bodies(await p.fetch.fetch(8, 5.0)) == ["b"]
        assert p.queued() == 0  # the stale 404 was dropped, not taken as the end of a new request
        await p.publish("c")
        assert bodies(await p.fetch.fetch(8, 5.0)) == ["c"]


async def test_a_status_left_from_an_earlier_request_never_reaches_the_caller(nats_url: str) -> None:
    async with pulled(nats_url) as p:
        await p.connection.publish(p.pull._nms, json.dumps({"batch": 1, "no_wait": True}).encode(), p.pull._deliver)
        await eventually(lambda: p.queued() == 1, 5, "the 404 queued")
        await p.publish("a")
        msgs = await p.fetch.fetch(8, 5.0)
        assert bodies(msgs) == ["a"]
        assert all(status_of(m) is None for m in msgs)


async def test_a_conflict_is_waited_out_rather_than_asked_again_at_once(nats_url: str) -> None:
    async with pulled(nats_url, max_batch=2) as p:
        await p.publish("a")
        started = time.monotonic()
        assert await p.fetch.fetch(8, 0.3) == []  # 409 Exceeded MaxRequestBatch, at once
        assert time.monotonic() - started >= 0.3  # a consumer loop does not spin on it
        assert bodies(await p.fetch.fetch(2, 1.0)) == ["a"]


async def test_a_consumer_that_is_gone_is_service_unavailable(nats_url: str) -> None:
    async with pulled(nats_url) as p:
        await p.js.delete_consumer(p.stream, "d")
        with pytest.raises(ServiceUnavailableError):
            await p.fetch.fetch(8, 1.0)


async def test_a_closed_connection_ends_fetching(nats_url: str) -> None:
    async with pulled(nats_url) as p:
        await p.connection.close()
        with pytest.raises(ConnectionClosedError):
            await p.fetch.fetch(8, 1.0)


async def test_a_fetch_waiting_when_its_connection_closes_ends_at_once(nats_url: str) -> None:
    async with pulled(nats_url) as p:
        waiting = asyncio.create_task(p.fetch.fetch(8, 5.0))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await p.connection.close()
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(waiting, 2.0)
        assert time.monotonic() - started < 1.0
        assert not p.pull._sub._pending_next_msgs_calls


async def test_a_fetch_cancelled_by_its_caller_stays_cancelled(nats_url: str) -> None:
    async with pulled(nats_url) as p:
        waiting = asyncio.create_task(p.fetch.fetch(8, 5.0))
        await asyncio.sleep(0.2)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert not p.pull._sub._pending_next_msgs_calls
