"""The Bus's durable pull consumers on a server: a lean fetch, each message straight to the dispatch.

faststream's subscriber ran every message through its own pipeline before the Bus's dispatch
(a task group per fetched batch, context scopes, middlewares, a parser and a decoder, a log
context): a third of a hop's time and of a burst's throughput (bench/bus_hop.py). The Bus still
registers each consumer with faststream, so that faststream's in-memory TestNatsBroker delivers
to it, but on a server it pulls them itself, here, with what faststream's pull subscriber did:

* the same durable consumer (explicit acks, `max_deliver` -1, every message from the start),
  created if missing, its deliveries on the service's own inbox prefix, fetched with one pull
  request and no task per message (quarry_runtime.pullfetch, not nats-py's fetch);
* with one worker, a fetched batch is handled together (the first message in this task, the
  others in a task each) and the next fetch waits for the whole batch;
* with more workers, each message is handled in its own task as it arrives, and a fetch asks for
  no more messages than there are free workers (faststream held a whole batch for them);
* a fetch that times out, an unavailable JetStream or another outage of the bus are waited out,
  any other error is logged, and the fetch is tried again a moment later; a closed connection
  (the broker stopped) ends the consumer;
* a dispatch that raises is logged and leaves its message unacked, so it is delivered again
  after the ack wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field

from faststream.nats.message import NatsMessage
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import ServiceUnavailableError

from contracts import subjects
from quarry_runtime.broker import unsubscribe_all
from quarry_runtime.busfaults import is_bus_outage
from quarry_runtime.cancelling import cancel_and_wait
from quarry_runtime.pullfetch import PullFetch
from quarry_runtime.subscription import Subscription

log = logging.getLogger("quarry_runtime.bus")

FETCH_TIMEOUT_S = 1.0
RETRY_AFTER_ERROR_S = 1.0

Dispatch = Callable[[NatsMessage], Awaitable[None]]


@dataclass(eq=False)
class PullConsumer:
    """One durable pull consumer of the service's stream, fetching and dispatching until stopped."""

    jetstream: Callable[[], JetStreamContext]
    sub: Subscription
    dispatch: Dispatch
    _: KW_ONLY
    ack_wait_s: float
    inbox: str  # the service's inbox prefix, where its deliveries come
    _pull: JetStreamContext.PullSubscription | None = field(default=None, init=False)
    _fetcher: PullFetch | None = field(default=None, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _free: int = field(default=0, init=False)  # workers free to take a message
    _freed: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    def __post_init__(self) -> None:
        self._free = self.sub.max_workers

    async def start(self) -> None:
        config = ConsumerConfig(
            durable_name=self.sub.durable,
            ack_wait=self.ack_wait_s,
            max_deliver=-1,
            deliver_policy=DeliverPolicy.ALL,
        )
        self._pull = await self.jetstream().pull_subscribe(
            self.sub.subject,
            durable=self.sub.durable,
            stream=subjects.STREAM,
            config=config,
            inbox_prefix=f"{self.inbox}.".encode(),
        )
        self._fetcher = PullFetch(self._pull)
        self._task = asyncio.create_task(self._run(), name=f"pull {self.sub.durable}")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        if self._pull is not None:
            await unsubscribe_all([self._pull])
            self._pull = self._fetcher = None

    async def _run(self) -> None:
        try:
            await (self._run_batches() if self.sub.max_workers == 1 else self._run_workers())
        except* ConnectionClosedError:
            # Closed for good (stopped; a lost server is reconnected to, never closed): nothing to fetch.
            log.debug("%s: the connection is closed, the consumer ends", self.sub.durable)

    async def _run_batches(self) -> None:
        while True:
            msgs = await self._fetch(self.sub.batch)
            if not msgs:
                continue
            if len(msgs) == 1:
                await self._consume(msgs[0])
                continue
            async with asyncio.TaskGroup() as group:
                for msg in msgs[1:]:
                    group.create_task(self._consume(msg))
                await self._consume(msgs[0])

    async def _run_workers(self) -> None:
        async with asyncio.TaskGroup() as group:
            while True:
                while self._free == 0:
                    self._freed.clear()
                    await self._freed.wait()
                for msg in await self._fetch(min(self.sub.batch, self._free)):
                    self._free -= 1
                    group.create_task(self._work(msg))

    async def _work(self, msg: Msg) -> None:
        try:
            await self._consume(msg)
        finally:
            self._free += 1
            self._freed.set()

    async def _fetch(self, batch: int) -> list[Msg]:
        assert self._fetcher is not None
        try:
            return await self._fetcher.fetch(batch, FETCH_TIMEOUT_S)
        except TimeoutError:  # nothing to fetch within the timeout (nats-py's error is one too)
            return []
        except ConnectionClosedError:
            raise
        except ServiceUnavailableError:
            await asyncio.sleep(RETRY_AFTER_ERROR_S / 10)
            return []
        except Exception as exc:
            if not is_bus_outage(exc):  # an outage is the deliveries' to report, once per interval
                log.exception("%s: fetching failed, trying again", self.sub.durable)
            await asyncio.sleep(RETRY_AFTER_ERROR_S)
            return []

    async def _consume(self, raw: Msg) -> None:
        message = NatsMessage(raw, raw.data, reply_to=raw.reply, correlation_id=raw.reply or "-")
        try:
            await self.dispatch(message)
        except Exception:
            log.exception("%s: handling a message failed; it comes back after the ack wait", self.sub.durable)
