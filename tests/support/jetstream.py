"""Positive signals that JetStream has nothing more to hand out, instead of sleeping and hoping."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from nats.js.errors import NotFoundError

from contracts import subjects
from contracts.consumers import CONSUMERS
from contracts.envelope import Event
from contracts.registry import parse_event
from tests.support.polling import eventually


async def drained(
    js: JetStreamContext, *durables: str, stream: str = subjects.STREAM, timeout_s: float = 60.0
) -> list[ConsumerInfo]:
    """Wait until each durable consumer holds nothing undelivered or unacknowledged, and return
    their states. Whatever was published before has then been handled, acknowledged or
    dead-lettered, and will not be delivered again. Name upstream consumers first: the handlers
    of one publish to the ones after it, and each is checked after those before it."""
    found: list[ConsumerInfo] = []

    async def idle() -> bool:
        found.clear()
        for durable in durables:
            try:
                info = await js.consumer_info(stream, durable)
            except NotFoundError:
                continue  # never bound: nothing was handed to it
            if info.num_pending or info.num_ack_pending:
                return False
            found.append(info)
        return True

    await eventually(idle, timeout_s, f"{', '.join(durables)} to settle every message", every_s=0.1)
    return found


async def received(nc: Client, *subs: Subscription, timeout_s: float = 10.0) -> None:
    """Wait until the core subscriptions have handled all the server routed to them before now."""
    await nc.flush()
    await eventually(lambda: all(s.pending_msgs == 0 for s in subs), timeout_s, "the subscriptions' callbacks")


async def service_drained(js: JetStreamContext, service: str, timeout_s: float = 60.0) -> list[ConsumerInfo]:
    """`drained` over every durable consumer `service` binds (contracts.consumers)."""
    return await drained(js, *(c.durable for c in CONSUMERS[service]), timeout_s=timeout_s)


async def stored_events(url: str, subject: str) -> list[Event]:
    """Every event the stream holds on `subject` (a wildcard too), oldest first: read on a
    connection of its own by an ordered consumer until none has come for half a second."""
    nc = await nats.connect(url)
    try:
        sub = await nc.jetstream().subscribe(subject, ordered_consumer=True)
        found: list[Event] = []
        with contextlib.suppress(nats.errors.TimeoutError):
            while True:
                found.append(parse_event((await sub.next_msg(timeout=0.5)).data))
        return found
    finally:
        await nc.close()


class Outcomes:
    """What a test sees on core NATS: the event ids published on some subjects, by run, and the
    dead letters of some services."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.by_run: dict[str, list[str]] = {}
        self.dead: list[Msg] = []
        self.subs: list[Subscription] = []

    @classmethod
    async def watch(cls, nc: Client, events: Sequence[str], dead_letters_of: Sequence[str]) -> Outcomes:
        seen = cls(nc)

        async def on_event(msg: Msg) -> None:
            event = parse_event(msg.data)
            seen.by_run.setdefault(event.run_id or "", []).append(event.event_id)

        async def on_dead(msg: Msg) -> None:
            seen.dead.append(msg)

        seen.subs = [await nc.subscribe(subject, cb=on_event) for subject in events]
        seen.subs += [await nc.subscribe(subjects.deadletter(service), cb=on_dead) for service in dead_letters_of]
        return seen

    async def received(self) -> None:
        """Wait until all the server routed to the watcher before now has been counted."""
        await received(self.nc, *self.subs)
