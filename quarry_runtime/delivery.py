"""What happens to one delivered message: parsed, marked in flight if redelivered, handled, then acked,
redelivered later or dead-lettered (the guarantees are the bus's: quarry_runtime.bus)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import nats.errors
from faststream.message import AckStatus
from faststream.nats import NatsBroker, NatsMessage
from nats.aio.msg import Msg
from pydantic import ValidationError

from contracts import subjects
from contracts.envelope import Event
from contracts.registry import parse_event
from quarry_runtime.busfaults import bus_unavailable, is_bus_outage
from quarry_runtime.errors import NotReady, Rejected, Unavailable
from quarry_runtime.health import ConsumerProgress
from quarry_runtime.inflight import InFlight, mark_key
from quarry_runtime.logs import scoped
from quarry_runtime.metrics import ConsumerMeters
from quarry_runtime.subscription import Subscription
from quarry_runtime.telemetry import run_traced, traced

log = logging.getLogger("quarry_runtime.bus")  # the bus's own log, as operators and alerts know it

# The only subjects a JetStream scheduled message may fire. The server publishes a schedule's
# target without checking that whoever scheduled it may publish there, so a consumer refuses
# any other message the scheduler (`Nats-Scheduler` header) produced.
SCHEDULED_SUBJECTS = frozenset({subjects.TIMER_FIRED})
NOT_READY_DELIVERIES = 60  # about twenty minutes of waiting with the backoff below
UNAVAILABLE_MAX_DELAY_S = 10.0  # how late a handler waiting out an outage may notice it is over
OUTAGE_LOG_INTERVAL_S = 30.0
# Deliveries spent waiting out an outage, remembered per message so they do not count toward
# its max_deliver; bounded, since a process may see many messages through a long outage.
OUTAGE_MEMORY = 10_000


def jetstream_metadata(raw: Msg) -> Msg.Metadata | None:
    """Where a JetStream delivery sits in its stream; None for a message faststream's in-memory
    TestNatsBroker hands over, which has no stream, no redelivery and so no in-flight mark."""
    if not raw.reply or not raw.reply.startswith("$JS."):
        return None
    return raw.metadata


# The delivery count's place in an ack subject without a domain:
# `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`.
_PLAIN_ACK_TOKENS = 9
_PLAIN_ACK_DELIVERED = 4
_PLAIN_ACK_TIMESTAMP = 7
_PLAIN_ACK_PENDING = 8


def delivery_count(raw: Msg) -> int:
    """How many times JetStream has delivered the message, this time included (1 for one of
    TestNatsBroker's). Read from the ack subject alone: nats-py's whole metadata (a datetime, two
    frozen dataclasses) cost a third of the bus's own work on a first delivery, which needs only this."""
    reply = raw.reply
    if not reply or not reply.startswith("$JS."):
        return 1
    tokens = reply.split(".")
    if len(tokens) == _PLAIN_ACK_TOKENS and tokens[1] == "ACK" and tokens[_PLAIN_ACK_DELIVERED].isdigit():
        return int(tokens[_PLAIN_ACK_DELIVERED]) or 1
    return int(raw.metadata.num_delivered or 1)


def behind(raw: Msg, now_ns: int) -> tuple[float, int] | None:
    """How long ago the message was stored in its stream, and how many wait behind it for the
    consumer (read from the ack subject, as `delivery_count` reads its count); None for a message
    without either (TestNatsBroker's)."""
    reply = raw.reply
    if not reply or not reply.startswith("$JS."):
        return None
    tokens = reply.split(".")
    if len(tokens) == _PLAIN_ACK_TOKENS and tokens[_PLAIN_ACK_TIMESTAMP].isdigit() and tokens[-1].isdigit():
        stored_ns, pending = int(tokens[_PLAIN_ACK_TIMESTAMP]), int(tokens[_PLAIN_ACK_PENDING])
    else:
        meta = raw.metadata
        stored_ns, pending = int(meta.timestamp.timestamp() * 1e9), int(meta.num_pending or 0)
    return max(0.0, (now_ns - stored_ns) / 1e9), pending


@dataclass(frozen=True, slots=True)
class Redelivery:
    """When JetStream delivers a message again, and when the bus stops trying and dead-letters it."""

    ack_wait_s: float  # unacked for this long (and no heartbeat), a message is delivered again
    max_deliver: int  # deliveries a handler may fail (raising) before the message is dead-lettered
    max_deaths: int  # handlings a message may leave unfinished (its process died) before that


class Heartbeat:
    """Tells JetStream that the messages in hand are in progress, so a long task (a slow model call)
    is not redelivered to another replica while this one still works on it.

    One timer beats every message in hand each `interval`: a message's first beat comes at most
    `interval` after it was taken, then one every `interval`. A timer per message cost every
    message its scheduling and cancelling, though most handlers finish long before a first beat.
    """

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._held: dict[int, NatsMessage] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._beats: set[asyncio.Future[None]] = set()

    def hold(self, msg: NatsMessage) -> None:
        """`msg` is in hand from now until `release`: it is beaten for while the handler runs.
        (Not a wrapper around the handler's work: a coroutine more per message was most of the cost.)"""
        loop = asyncio.get_running_loop()
        if self._timer is None or self._loop is not loop:
            self._loop = loop
            self._timer = loop.call_later(self._interval, self._beat)
        self._held[id(msg)] = msg

    def release(self, msg: NatsMessage) -> None:
        del self._held[id(msg)]

    def _beat(self) -> None:
        self._timer = None
        if not self._held or self._loop is None:
            return  # the next message taken starts the timer again
        for msg in self._held.values():
            future = asyncio.ensure_future(msg.in_progress())
            self._beats.add(future)
            future.add_done_callback(self._beats.discard)
        self._timer = self._loop.call_later(self._interval, self._beat)


@dataclass(eq=False)
class Deliveries:
    """Handles the messages every consumer of one service is delivered."""

    broker: NatsBroker
    service: str
    inflight: InFlight
    limits: Redelivery
    # Which consumers hold messages without acking any: read by the liveness probe.
    progress: ConsumerProgress = field(default_factory=ConsumerProgress, init=False)
    _outage_deliveries: dict[tuple[str, int], int] = field(default_factory=dict, init=False)
    _outage_logged: dict[str, tuple[float, int]] = field(default_factory=dict, init=False)  # when last, retries since
    _heartbeat: Heartbeat = field(init=False)
    _meters: dict[str, ConsumerMeters] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._heartbeat = Heartbeat(self.limits.ack_wait_s / 3)

    def meters(self, durable: str) -> ConsumerMeters:
        meters = self._meters.get(durable)
        if meters is None:
            meters = self._meters[durable] = ConsumerMeters.of(self.service, durable)
        return meters

    async def dispatch(self, msg: NatsMessage, model: type[Event] | None, sub: Subscription) -> None:
        durable = sub.durable
        self.progress.delivered(durable)
        meters = self.meters(durable)
        started_ns = time.time_ns()
        raw = msg.raw_message
        position = behind(raw, started_ns)
        if position is not None:
            meters.lag_s.set(position[0])
        try:
            headers = raw.headers
            scheduler = headers.get("Nats-Scheduler") if headers else None
            if scheduler is not None and raw.subject not in SCHEDULED_SUBJECTS:
                reason = f"fired by the schedule {scheduler}: only {sorted(SCHEDULED_SUBJECTS)} may be"
                await self._dead_letter(msg, sub.durable, reason)
                return
            if sub.applied_here is not None and headers and sub.applied_here(headers.get("Nats-Msg-Id", "")):
                await msg.ack()
                meters.processed.inc()
                return
            try:
                # The model's own validator: what model_validate_json calls, less a wrapper's keyword handling.
                event = parse_event(raw.data) if model is None else model.__pydantic_validator__.validate_json(raw.data)
            except (ValidationError, ValueError, KeyError) as exc:
                expected = model.__name__ if model else "event"
                await self._dead_letter(msg, sub.durable, f"malformed {expected}: {_short(exc)}")
                return
            # A first delivery is not marked (see quarry_runtime.inflight): the normal path writes nothing.
            if delivery_count(raw) == 1:
                await self._handle(msg, event, sub)
            else:
                await self._redelivered(msg, event, sub)
        finally:
            acked = msg.committed is AckStatus.ACKED
            self.progress.settled(durable, acked=acked)
            # Processed and dead-lettered are counted where they are acked; anything else comes back.
            if not acked:
                meters.failed.inc()
            elif position is not None and position[1] == 0:
                meters.lag_s.set(0.0)  # nothing waited behind it: caught up, not stuck at its age
            meters.handling_s.observe((time.time_ns() - started_ns) / 1e9)

    async def _redelivered(self, msg: NatsMessage, event: Event, sub: Subscription) -> None:
        meta = jetstream_metadata(msg.raw_message)
        assert meta is not None  # delivered more than once: a JetStream delivery
        key = mark_key(meta.stream, meta.consumer, meta.sequence.stream)
        # None: the mark could not be written (the bus is away or its store full); the handling
        # goes on unmarked rather than the consumer stopping on its own bookkeeping.
        marked = await self.inflight.begin(key)
        deaths = marked or 0
        try:
            if deaths >= self.limits.max_deaths:
                reason = f"its handling never finished {deaths} times: the process died (out of memory, crashed, killed) or hung"
                if sub.on_give_up is not None:
                    await sub.on_give_up(event, reason)
                await self._dead_letter(msg, sub.durable, reason)
            else:
                await self._handle(msg, event, sub)
        finally:
            if marked is not None and msg.committed is AckStatus.ACKED:
                await self.inflight.release(key)  # never delivered again: nothing waits on it
            elif marked is not None:
                await self.inflight.end(key)

    async def _handle(self, msg: NatsMessage, event: Event, sub: Subscription) -> None:
        # Whatever the handler logs names the event's tenant and run (quarry_runtime.logs).
        with scoped(event.tenant_id, event.run_id, event.trace.traceparent):
            raw = msg.raw_message
            headers = raw.headers
            heartbeat = self._heartbeat
            try:
                heartbeat.hold(msg)
                try:
                    if traced(headers):
                        await run_traced(self.service, sub.durable, headers or {}, sub.handler(event), raw.subject)
                    else:
                        await sub.handler(event)  # the common case: no trace to continue, no span to record
                finally:
                    heartbeat.release(msg)
            except Unavailable as exc:
                await self._wait_out(msg, (sub.durable, _stream_sequence(raw)), sub, exc)
                return
            except NotReady as exc:
                key = (sub.durable, _stream_sequence(raw))
                delivered = self._own_deliveries(raw, key)
                if delivered >= NOT_READY_DELIVERIES:
                    self._outage_deliveries.pop(key, None)
                    await self._dead_letter(msg, sub.durable, f"still not ready after {delivered} deliveries: {exc}")
                    return
                # Back off so a dependency that is late (or lost) does not turn into a hot loop.
                await msg.nack(delay=min(exc.delay_s * 1.25 ** (delivered - 1), 30.0))
                return
            except Rejected as exc:
                self._outage_deliveries.pop((sub.durable, _stream_sequence(raw)), None)
                await self._dead_letter(msg, sub.durable, str(exc))
                return
            except Exception as exc:
                key = (sub.durable, _stream_sequence(raw))
                if isinstance(exc, nats.errors.Error) and is_bus_outage(exc):
                    # A NATS call of the handler's own (a key-value read or write, a request) that
                    # the bus could not take: an outage, whichever helper did not say so itself.
                    await self._wait_out(msg, key, sub, bus_unavailable(exc, "the handler's call to NATS"))
                    return
                delivered = self._own_deliveries(raw, key)
                if delivered >= self.limits.max_deliver:
                    self._outage_deliveries.pop(key, None)
                    reason = f"failed {delivered} times: {_short(exc)}"
                    if sub.on_give_up is not None:
                        await sub.on_give_up(event, reason)
                    await self._dead_letter(msg, sub.durable, reason)
                    return
                log.exception("%s: handler failed (delivery %d), will retry", sub.durable, delivered)
                await msg.nack(delay=min(0.2 * 2**delivered, 10.0))
                return
            if self._outage_deliveries:  # rarely anything there: the key is not worth reading otherwise
                self._outage_deliveries.pop((sub.durable, _stream_sequence(raw)), None)
            if sub.durable in self._outage_logged:
                del self._outage_logged[sub.durable]
                log.warning("%s: handling again after an outage", sub.durable)
            await msg.ack()
            self.meters(sub.durable).processed.inc()

    async def _wait_out(self, msg: NatsMessage, key: tuple[str, int], sub: Subscription, exc: Unavailable) -> None:
        """Redeliver later with backoff, without counting this delivery against the message."""
        waited = self._outage_deliveries.pop(key, 0) + 1
        if len(self._outage_deliveries) >= OUTAGE_MEMORY:
            self._outage_deliveries.pop(next(iter(self._outage_deliveries)))
        self._outage_deliveries[key] = waited
        self._log_outage(sub.durable, exc)
        await msg.nack(delay=min(0.5 * 1.5 ** min(waited - 1, 20), UNAVAILABLE_MAX_DELAY_S))

    def _own_deliveries(self, raw: Any, key: tuple[str, int]) -> int:
        """Deliveries of a message that failed on their own account: not those spent in an outage."""
        meta = jetstream_metadata(raw)
        delivered = int(meta.num_delivered or 1) if meta is not None else 1
        return max(1, delivered - self._outage_deliveries.get(key, 0))

    def _log_outage(self, durable: str, exc: Unavailable) -> None:
        """One line per consumer per interval, however many messages wait out the outage."""
        now = time.monotonic()
        last, retries = self._outage_logged.get(durable, (-OUTAGE_LOG_INTERVAL_S, 0))
        if now - last < OUTAGE_LOG_INTERVAL_S:
            self._outage_logged[durable] = (last, retries + 1)
            return
        log.warning("%s: waiting for a dependency (%d retries since the last report): %s", durable, retries + 1, exc)
        self._outage_logged[durable] = (now, 0)

    async def _dead_letter(self, msg: NatsMessage, durable: str, reason: str) -> None:
        raw = msg.raw_message
        seq = _stream_sequence(raw)
        log.warning("dead-lettering %s #%s: %s", raw.subject, seq, reason)
        headers = {
            "Nats-Msg-Id": f"dl-{self.service}-{seq}",
            "Quarry-Reason": reason[:1000],
            "Quarry-Subject": raw.subject,
            "Quarry-Stream-Seq": str(seq),
        }
        try:
            await self.broker.publish(
                raw.data,
                subjects.deadletter(self.service),
                headers=headers,
                stream=subjects.DEADLETTER_STREAM,
            )
        except Exception as exc:
            if not is_bus_outage(exc):
                raise
            # Acking now would lose the message with its reason: it comes back after the outage
            # and is dead-lettered then (a second copy is de-duplicated by its id).
            self._log_outage("dead-letters", bus_unavailable(exc, f"dead-lettering {raw.subject} #{seq}"))
            await msg.nack(delay=UNAVAILABLE_MAX_DELAY_S)
            return
        await msg.ack()
        self.meters(durable).dead_lettered.inc()


def _stream_sequence(raw: Msg) -> int:
    meta = jetstream_metadata(raw)
    return meta.sequence.stream if meta is not None and meta.sequence is not None else 0


def _short(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    return text[:500]
