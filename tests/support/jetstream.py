"""Positive signals that JetStream has nothing more to hand out, instead of sleeping and hoping."""

from __future__ import annotations

from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from nats.js.errors import NotFoundError

from contracts import subjects
from contracts.consumers import CONSUMERS
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
