"""The proof that a consumer acknowledges a message only once its effect is durable (see
test_ack_after_commit)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from contracts import subjects
from contracts.envelope import Event
from quarry_runtime.bus import Bus, Subscription, ensure_streams
from tests.support.polling import eventually

ACK_WAIT_S = 30.0
# Each case's budget: the bus's backoff for an outage reaches 10 s between deliveries.
FAILING_DELIVERIES = 2
PHASE_S = 45.0


class StoreFault:
    """A switch that makes one store fail, as a full or vanished volume would."""

    failing = False

    def error(self) -> Exception:
        return OSError(28, "No space left on device")


# -- the proof, for one consumer ------------------------------------------------------------


@dataclass
class Watched:
    """The messages the stream took on some subjects since the case began, by subject."""

    messages: list[Msg] = field(default_factory=list)
    stored_before: dict[str, int] = field(default_factory=dict)  # by subject, as watching began

    async def caught_up(self, js: JetStreamContext) -> bool:
        """Whether every message the stream took on the watched subjects since has arrived here."""
        for subject, before in self.stored_before.items():
            if sum(m.subject == subject for m in self.messages) < await stored_on(js, subject) - before:
                return False
        return True

    def count(self, subject: str, event_id: str) -> int:
        return sum(
            1 for m in self.messages if m.subject == subject and (m.headers or {}).get("Nats-Msg-Id") == event_id
        )

    def payload_of(self, subject: str, event_id: str) -> bytes | None:
        found = [
            m.data for m in self.messages if m.subject == subject and (m.headers or {}).get("Nats-Msg-Id") == event_id
        ]
        return found[-1] if found else None


@dataclass
class Case:
    """One consumer: its service's subscriptions, the message to give it, its store, its effect."""

    subscriptions: Sequence[Subscription]
    event: Event
    fault: StoreFault
    effect: Callable[[], Any]  # what the store holds of the message's doing, comparable
    expected: Callable[[], Any]  # what it must hold once the message is applied exactly once
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()
    subject: str | None = None
    watched: Watched = field(default_factory=Watched)  # what the stream took on `watch`
    watch: Sequence[str] = ()
    closers: list[Callable[[], None]] = field(default_factory=list)
    # Copies of the message under other stream ids (a publisher's retry after a lost ack, past
    # the duplicate window): fetched together, one stages and the others find its work staged.
    copies: int = 1


async def stored_on(js: JetStreamContext, subject: str) -> int:
    info = await js.stream_info(subjects.STREAM, subjects_filter=subject)
    return (info.state.subjects or {}).get(subject, 0)


async def value(effect: Callable[[], Any]) -> Any:
    result = effect()
    return await result if asyncio.iscoroutine(result) else result


@contextlib.asynccontextmanager
async def watching(js: JetStreamContext, subs: Sequence[str], watched: Watched) -> AsyncIterator[Watched]:
    """What the stream stores from now on (an ordered consumer: duplicates JetStream dropped are not seen)."""

    async def keep(msg: Msg) -> None:
        watched.messages.append(msg)

    # Counted before the subscriptions start: a message between the two leaves the watcher
    # waiting in vain (a loud failure) rather than counted as seen.
    watched.stored_before = {s: await stored_on(js, s) for s in subs}
    pushed = [await js.subscribe(s, cb=keep, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW) for s in subs]
    try:
        yield watched
    finally:
        for sub in pushed:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


Build = Callable[[Bus], Awaitable[Case]]


async def prove_ack_after_commit(nats_url: str, service: str, durable: str, build: Build) -> Watched:
    """The message is not acknowledged while its effect cannot be committed, and is applied once after."""
    bus = Bus(nats_url, service, ack_wait_s=ACK_WAIT_S)
    case = await build(bus)
    [sub] = [s for s in case.subscriptions if s.durable == durable]
    own = f"{durable}-{uuid.uuid4().hex[:8]}"
    deliveries: Counter[str] = Counter()
    handler = sub.handler

    async def counted(ev: Any) -> None:
        deliveries[ev.event_id] += 1
        await handler(ev)

    bus.subscribe(dataclasses.replace(sub, durable=own, handler=counted))
    await bus.broker.connect()
    await ensure_streams(bus.broker)
    js = bus.broker.connection.jetstream()
    # Created here, to start at the next message; the bus binds to an existing durable as it is.
    await js.add_consumer(
        subjects.STREAM,
        ConsumerConfig(
            name=own,
            durable_name=own,
            filter_subject=sub.subject,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S,
            max_deliver=-1,
            deliver_policy=DeliverPolicy.NEW,
        ),
    )
    dead: list[Msg] = []

    async def on_dead(msg: Msg) -> None:
        dead.append(msg)

    dead_sub = await bus.broker.connection.subscribe(subjects.deadletter(service), cb=on_dead)
    jobs = [asyncio.create_task(job()) for job in case.background]
    event = case.event
    try:
        async with watching(js, case.watch, case.watched) as watched:
            before = await value(case.effect)
            case.fault.failing = True
            # Published before the consumer starts, so its first fetch takes every copy at once.
            acks = [
                await js.publish(
                    case.subject or event.SUBJECT,
                    event.to_bytes(),
                    headers={"Nats-Msg-Id": event.event_id if n == 0 else f"{event.event_id}-copy-{n}"},
                    stream=subjects.STREAM,
                )
                for n in range(case.copies)
            ]
            ack = acks[-1]
            first = acks[0].seq
            failing_deliveries = FAILING_DELIVERIES * case.copies
            await bus.broker.start()

            async def redelivered_or_acked() -> bool:
                info = await js.consumer_info(subjects.STREAM, own)
                acked = case.copies - info.num_ack_pending - info.num_pending
                return deliveries[event.event_id] >= failing_deliveries or acked > 0

            await eventually(redelivered_or_acked, PHASE_S, f"{durable} is redelivered while its store fails")
            info = await js.consumer_info(subjects.STREAM, own)
            assert info.ack_floor is not None and (info.ack_floor.stream_seq or 0) < first, (
                f"{durable} acknowledged a message whose effect was not committed"
            )
            assert info.num_ack_pending == case.copies, (
                f"{durable} acknowledged {case.copies - info.num_ack_pending} of {case.copies} copies before a commit"
            )
            assert deliveries[event.event_id] >= failing_deliveries
            assert await value(case.effect) == before, (
                f"{durable}: something of the message was applied while its store failed"
            )

            case.fault.failing = False
            await eventually(
                lambda: _acked(js, own, ack.seq),
                PHASE_S,
                f"{durable} acknowledges the message once its store works again",
            )
            # The stream's copies of what the handler published may arrive a moment after the ack.
            await eventually(
                _same(case.effect, case.expected), PHASE_S, f"{durable}: the message's effect is there exactly once"
            )
            # And stays so: the message is acknowledged (no redelivery can follow) and all the
            # stream took from its handling has reached the watchers.
            await eventually(lambda: watched.caught_up(js), PHASE_S, f"{durable}: the watchers to catch up")
            assert await value(case.effect) == await value(case.expected), f"{durable}: applied more than once"
            assert await value(case.effect) != before, f"{durable}: the case's message changed nothing"
            assert not [m for m in dead if int((m.headers or {}).get("Quarry-Stream-Seq", 0)) >= first]
            return watched
    finally:
        case.fault.failing = False
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        await dead_sub.unsubscribe()
        with contextlib.suppress(Exception):  # best effort: the server is the session's
            await js.delete_consumer(subjects.STREAM, own)
        await bus.stop()
        for close in case.closers:
            close()


def _same(effect: Callable[[], Any], expected: Callable[[], Any]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(await value(effect) == await value(expected))

    return check


async def _acked(js: JetStreamContext, durable: str, seq: int) -> bool:
    info = await js.consumer_info(subjects.STREAM, durable)
    return info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= seq and info.num_ack_pending == 0
