"""The event bus: faststream over NATS JetStream, with de-duplication and dead-lettering.

Every publish carries the event id as `Nats-Msg-Id`, so JetStream drops a second publish of
the same event inside the duplicate window. Every consumer is a durable pull consumer with
explicit acks: a handler that raises `NotReady` is redelivered later; a malformed message,
a `Rejected` one, or one that keeps failing is copied to `deadletter.v1.<service>` with the
reason in its headers and acknowledged, so the consumer keeps going. A handler that raises
`Unavailable` (its database or a downstream service is away) is redelivered with backoff for as
long as it takes: those deliveries are not the message's fault and never count toward dead-lettering.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import nats.errors
import nats.js.errors
from faststream import AckPolicy
from faststream.message import AckStatus
from faststream.nats import ConsumerConfig, JStream, NatsBroker, NatsMessage, PullSub
from faststream.nats.security import NatsSecurity, NatsUserPassword
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy, DiscardPolicy, StorageType, StreamConfig
from pydantic import ValidationError

from contracts import subjects
from contracts.envelope import Event, TraceContext
from contracts.registry import event_type_for_subject, parse_event
from quarry_runtime.buckets import Buckets, update_stream
from quarry_runtime.busfaults import bus_unavailable, is_bus_outage, nats_outage_is_unavailable
from quarry_runtime.errors import NotReady, Rejected, Unavailable
from quarry_runtime.health import ConsumerProgress
from quarry_runtime.inflight import InFlight, mark_key
from quarry_runtime.settings import (
    DEFAULT_DEADLETTER_MAX_BYTES,
    DEFAULT_KV_MAX_BYTES,
    DEFAULT_OBJECT_STORE_MAX_BYTES,
    DEFAULT_STREAM_MAX_BYTES,
    RuntimeSettings,
)
from quarry_runtime.telemetry import inject_trace, traced_handler

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[Any], Awaitable[None]]

DUPLICATE_WINDOW_S = 120.0
# The only subjects a JetStream scheduled message may fire. The server publishes a schedule's
# target without checking that whoever scheduled it may publish there, so a consumer refuses
# any other message the scheduler (`Nats-Scheduler` header) produced.
SCHEDULED_SUBJECTS = frozenset({subjects.TIMER_FIRED})
NOT_READY_DELIVERIES = 60  # about twenty minutes of waiting with the backoff below
UNAVAILABLE_MAX_DELAY_S = 10.0  # how late a handler waiting out an outage may notice it is over
OUTAGE_LOG_INTERVAL_S = 30.0
NATS_RECONNECT_ATTEMPTS = -1  # forever
NATS_RECONNECT_WAIT_S = 1
NATS_PING_INTERVAL_S = 10
NATS_MAX_OUTSTANDING_PINGS = 3
# Deliveries spent waiting out an outage, remembered per message so they do not count toward
# its max_deliver; bounded, since a process may see many messages through a long outage.
OUTAGE_MEMORY = 10_000


@dataclass(frozen=True)
class Subscription:
    """One durable consumer: which subject, under which durable name, to which handler."""

    subject: str
    durable: str
    handler: Handler
    batch: int = 16
    # Called with the event and the reason before a message that keeps failing is dead-lettered,
    # so whoever waits for its outcome hears of the failure instead of waiting forever.
    on_give_up: Callable[[Any, str], Awaitable[None]] | None = None
    # Above 1: messages are handled by this many concurrent workers as they arrive, instead of
    # a fetched batch being handled together (where the slowest holds the next fetch back).
    max_workers: int = 1


class QuietFetchTimeouts(logging.Filter):
    """Drops faststream's supervisor report of a pull consumer's fetch that timed out.

    A fetch that finds nothing within its timeout can end the consume task with a TimeoutError
    (when the wait is cut short as the subscriber starts or stops); faststream restarts the task
    and logs an ERROR with a traceback per process, which reads like a failure in every
    service's log. Anything else the supervisor reports still gets through.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, TimeoutError) and "raised an exception, retrying" in record.getMessage())


class ReconnectingBroker(NatsBroker):
    """faststream's NATS broker, except that no error ends the client's reconnecting.

    faststream re-raises some errors the server sends (an authorization violation or time-out, a
    stale connection, too many connections) from nats-py's error callback, so that a first
    connection with wrong credentials fails at once. Raised while reconnecting, the error ends
    nats-py's reconnect task instead: the client then stays disconnected for good, its service
    alive and deaf. Once connected, such an error is a server restarting, overloaded, or not yet
    given its users, so it is logged and the next server tried, as nats-py would.
    """

    def _log_connection_broken(self, error_cb: Any = None) -> Any:
        faststreams = super()._log_connection_broken(error_cb)

        async def on_error(err: Exception) -> None:
            try:
                await faststreams(err)
            except Exception:
                if self._connection is None:
                    raise  # the first connection: fail fast, as faststream means to
                log.warning("a NATS server refused to reconnect us (%s); trying again", err)

        return on_error


def url_credentials(servers: Sequence[str]) -> tuple[str, str] | None:
    """The user and password the servers' addresses carry (`nats://user:pass@host:port`), if any."""
    for server in servers:
        parts = urlsplit(server if "://" in server else f"nats://{server}")
        if parts.username is not None and parts.password is not None:
            return unquote(parts.username), unquote(parts.password)
    return None


def without_credentials(server: str) -> str:
    parts = urlsplit(server if "://" in server else f"nats://{server}")
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class Bus:
    """Publishes events and runs durable consumers for one service."""

    def __init__(
        self,
        url: str,
        service: str,
        *,
        ack_wait_s: float = 30.0,
        max_deliver: int = 10,
        stream_replicas: int = 1,
        max_deaths: int = 2,
        stream_max_bytes: int = DEFAULT_STREAM_MAX_BYTES,
        deadletter_max_bytes: int = DEFAULT_DEADLETTER_MAX_BYTES,
        kv_max_bytes: int = DEFAULT_KV_MAX_BYTES,
        object_store_max_bytes: int = DEFAULT_OBJECT_STORE_MAX_BYTES,
        credentials: tuple[str, str] | None = None,
        tls_ca_file: Path | None = None,
    ) -> None:
        self.service = service
        servers = [u.strip() for u in url.split(",") if u.strip()]
        logger = logging.getLogger(f"faststream.{service}")
        if not any(isinstance(f, QuietFetchTimeouts) for f in logger.filters):
            logger.addFilter(QuietFetchTimeouts())
        tls = ssl.create_default_context(cafile=str(tls_ca_file)) if tls_ca_file else None
        security: NatsSecurity | None = None
        # The user of the addresses is the connection's: nats-py authenticates with the options' user
        # (not the URL's) to the servers a cluster announces, and those refused us until this.
        if credentials is None and (credentials := url_credentials(servers)) is not None:
            servers = [without_credentials(server) for server in servers]
        if credentials is not None:
            security = NatsUserPassword(credentials[0], credentials[1], ssl_context=tls)
        elif tls is not None:
            security = NatsSecurity(ssl_context=tls)
        # Replies and JetStream deliveries come to inboxes under the service's own prefix, the
        # only ones its NATS user may subscribe to (quarry_runtime.natsauth).
        self.broker = ReconnectingBroker(
            servers,
            logger=logger,
            security=security,
            inbox_prefix=inbox_prefix(service),
            # A restarted or lost server is waited for as long as it takes (nats-py gives up
            # after 60 attempts by default and the service would stay disconnected); a dead
            # connection is noticed within ping_interval * max_outstanding_pings.
            allow_reconnect=True,
            max_reconnect_attempts=NATS_RECONNECT_ATTEMPTS,
            reconnect_time_wait=NATS_RECONNECT_WAIT_S,
            ping_interval=NATS_PING_INTERVAL_S,
            max_outstanding_pings=NATS_MAX_OUTSTANDING_PINGS,
        )
        self._ack_wait_s = ack_wait_s
        self._max_deliver = max_deliver
        self._stream_max_bytes = stream_max_bytes
        self._deadletter_max_bytes = deadletter_max_bytes
        self.replicas = stream_replicas
        # Every key-value bucket and object store a service opens on this bus's connection.
        self.buckets = Buckets(
            self._js, replicas=stream_replicas, kv_max_bytes=kv_max_bytes, object_store_max_bytes=object_store_max_bytes
        )
        self._stream = JStream(subjects.STREAM, declare=False)
        self._jetstream: JetStreamContext | None = None
        self._max_deaths = max_deaths
        self._inflight = InFlight(
            self._js,
            service,
            replicas=stream_replicas,
            max_bytes=kv_max_bytes,
            connection=lambda: self.broker.connection,
        )
        self._outage_deliveries: dict[tuple[str, int], int] = {}
        self._outage_logged: dict[str, tuple[float, int]] = {}  # per consumer: when last logged, retries since
        # Which consumers hold messages without acking any: read by the liveness probe.
        self.progress = ConsumerProgress()

    @classmethod
    def from_settings(cls, settings: RuntimeSettings, service: str) -> Bus:
        return cls(
            settings.nats_url,
            service,
            ack_wait_s=settings.ack_wait_s,
            max_deliver=settings.max_deliver,
            stream_replicas=settings.stream_replicas,
            max_deaths=settings.max_deaths,
            stream_max_bytes=settings.stream_max_bytes,
            deadletter_max_bytes=settings.deadletter_max_bytes,
            kv_max_bytes=settings.kv_max_bytes,
            object_store_max_bytes=settings.object_store_max_bytes,
            credentials=settings.nats_credentials(),
            tls_ca_file=settings.nats_tls_ca_file,
        )

    async def start(self) -> None:
        """Connect, make sure the streams exist, then start every consumer registered so far."""
        await self.broker.connect()
        await ensure_streams(
            self.broker,
            replicas=self.replicas,
            max_bytes=self._stream_max_bytes,
            deadletter_max_bytes=self._deadletter_max_bytes,
        )
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()

    async def publish(self, event: Event, subject: str | None = None) -> bool:
        """Publish and wait for JetStream's ack; returns False when it was a duplicate."""
        headers = {"Nats-Msg-Id": event.event_id, "Quarry-Type": event.type}
        inject_trace(headers)
        if event.trace.traceparent is None and "traceparent" in headers:
            # The envelope keeps the trace too, so it survives storage and replay, not only the hop.
            trace = TraceContext(traceparent=headers["traceparent"], tracestate=headers.get("tracestate"))
            event = event.model_copy(update={"trace": trace})
        # nats-py's JetStream publish on faststream's connection: faststream's publisher
        # middleware (message wrapping, correlation ids) adds nothing we use on this hot path.
        # Not stored (or not known to be) in an outage: the caller's unit of work is repeated whole
        # later, and a second publish of the same id is de-duplicated if this one was stored after all.
        with nats_outage_is_unavailable(f"publishing {event.type} {event.event_id}"):
            ack = await self._js().publish(
                subject or event.SUBJECT, event.to_bytes(), headers=headers, stream=subjects.STREAM
            )
        return not ack.duplicate

    def _js(self) -> JetStreamContext:
        if self._jetstream is None:
            self._jetstream = self.broker.connection.jetstream()
        return self._jetstream

    async def schedule(self, event: Event, at: datetime) -> None:
        """Publish `event` on its own subject at `at`, durably: a JetStream scheduled message
        (nats-server 2.12+) held on `timer.v1.schedule.<event id>` until it is due."""
        due = at.astimezone(UTC)
        # The scheduler reads whole seconds; round up so it never fires before `at`.
        if due.microsecond:
            due = due.replace(microsecond=0) + timedelta(seconds=1)
        headers = {
            "Nats-Msg-Id": f"schedule-{event.event_id}",
            "Nats-Schedule": f"@at {due.strftime('%Y-%m-%dT%H:%M:%SZ')}",
            "Nats-Schedule-Target": event.SUBJECT,
        }
        inject_trace(headers)
        with nats_outage_is_unavailable(f"scheduling {event.type} {event.event_id}"):
            await self._js().publish(
                subjects.timer_schedule(event.event_id), event.to_bytes(), headers=headers, stream=subjects.STREAM
            )

    def subscribe(self, sub: Subscription) -> None:
        """Register a durable pull consumer; call before `start()`."""
        wildcard = "*" in sub.subject or ">" in sub.subject
        model = None if wildcard else event_type_for_subject(sub.subject)

        async def on_message(msg: Any) -> None:
            # The decoder hands over the framework's message object itself as the body, so
            # the handler needs no context injection (which faststream resolves in a thread).
            await self._dispatch(msg, model, sub)

        async def keep_message(message: NatsMessage) -> Any:
            return message

        on_message.__name__ = f"on_{sub.durable.replace('-', '_')}"
        self.broker.subscriber(
            sub.subject,
            stream=self._stream,
            durable=sub.durable,
            pull_sub=PullSub(batch_size=sub.batch, timeout=1.0),
            ack_policy=AckPolicy.MANUAL,
            config=ConsumerConfig(
                ack_wait=self._ack_wait_s,
                max_deliver=-1,
                deliver_policy=DeliverPolicy.ALL,
            ),
            title=sub.durable,
            decoder=keep_message,
            max_workers=sub.max_workers,
            inbox_prefix=f"{inbox_prefix(self.service)}.".encode(),
        )(on_message)

    async def _dispatch(self, msg: NatsMessage, model: type[Event] | None, sub: Subscription) -> None:
        self.progress.delivered(sub.durable)
        try:
            await self._dispatch_once(msg, model, sub)
        finally:
            self.progress.settled(sub.durable, acked=msg.committed is AckStatus.ACKED)

    async def _dispatch_once(self, msg: NatsMessage, model: type[Event] | None, sub: Subscription) -> None:
        raw = msg.raw_message
        scheduler = (raw.headers or {}).get("Nats-Scheduler")
        if scheduler is not None and raw.subject not in SCHEDULED_SUBJECTS:
            await self._dead_letter(msg, f"fired by the schedule {scheduler}: only {sorted(SCHEDULED_SUBJECTS)} may be")
            return
        try:
            event = parse_event(raw.data) if model is None else model.model_validate_json(raw.data)
        except (ValidationError, ValueError, KeyError) as exc:
            expected = model.__name__ if model else "event"
            await self._dead_letter(msg, f"malformed {expected}: {_short(exc)}")
            return
        meta = raw.metadata
        key = mark_key(meta.stream, meta.consumer, meta.sequence.stream)
        # None: the mark could not be written (the bus is away or its store full); the handling
        # goes on unmarked rather than the consumer stopping on its own bookkeeping.
        first = (meta.num_delivered or 1) == 1
        marked = await (self._inflight.mark_first(key) if first else self._inflight.begin(key))
        deaths = marked or 0
        try:
            if deaths >= self._max_deaths:
                reason = f"its handling never finished {deaths} times: the process died (out of memory, crashed, killed) or hung"
                if sub.on_give_up is not None:
                    await sub.on_give_up(event, reason)
                await self._dead_letter(msg, reason)
            else:
                await self._handle(msg, event, sub)
        finally:
            if marked is not None and msg.committed is AckStatus.ACKED:
                await self._inflight.release(key)  # never delivered again: nothing waits on it
            elif marked is not None:
                await self._inflight.end(key)

    async def _handle(self, msg: NatsMessage, event: Event, sub: Subscription) -> None:
        raw = msg.raw_message
        key = (sub.durable, raw.metadata.sequence.stream if raw.metadata.sequence else 0)
        try:
            async with traced_handler(self.service, sub.durable, raw.headers or {}):
                await self._with_heartbeat(msg, sub.handler(event))
        except Unavailable as exc:
            await self._wait_out(msg, key, sub, exc)
            return
        except NotReady as exc:
            delivered = self._own_deliveries(raw, key)
            if delivered >= NOT_READY_DELIVERIES:
                self._outage_deliveries.pop(key, None)
                await self._dead_letter(msg, f"still not ready after {delivered} deliveries: {exc}")
                return
            # Back off so a dependency that is late (or lost) does not turn into a hot loop.
            await msg.nack(delay=min(exc.delay_s * 1.25 ** (delivered - 1), 30.0))
            return
        except Rejected as exc:
            self._outage_deliveries.pop(key, None)
            await self._dead_letter(msg, str(exc))
            return
        except Exception as exc:
            if isinstance(exc, nats.errors.Error) and is_bus_outage(exc):
                # A NATS call of the handler's own (a key-value read or write, a request) that
                # the bus could not take: an outage, whichever helper did not say so itself.
                await self._wait_out(msg, key, sub, bus_unavailable(exc, "the handler's call to NATS"))
                return
            delivered = self._own_deliveries(raw, key)
            if delivered >= self._max_deliver:
                self._outage_deliveries.pop(key, None)
                reason = f"failed {delivered} times: {_short(exc)}"
                if sub.on_give_up is not None:
                    await sub.on_give_up(event, reason)
                await self._dead_letter(msg, reason)
                return
            log.exception("%s: handler failed (delivery %d), will retry", sub.durable, delivered)
            await msg.nack(delay=min(0.2 * 2**delivered, 10.0))
            return
        self._outage_deliveries.pop(key, None)
        if sub.durable in self._outage_logged:
            del self._outage_logged[sub.durable]
            log.warning("%s: handling again after an outage", sub.durable)
        await msg.ack()

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
        delivered = int(raw.metadata.num_delivered or 1)
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

    async def _with_heartbeat(self, msg: NatsMessage, work: Awaitable[None]) -> None:
        """Run the handler, telling JetStream it is in progress so a long task (a slow model
        call) is not redelivered to another replica while this one still works on it."""
        loop = asyncio.get_running_loop()
        interval = self._ack_wait_s / 3
        beats: set[asyncio.Future[None]] = set()
        timer: asyncio.TimerHandle | None = None

        def beat() -> None:
            nonlocal timer
            future = asyncio.ensure_future(msg.in_progress())
            beats.add(future)
            future.add_done_callback(beats.discard)
            timer = loop.call_later(interval, beat)

        # A timer, not a task per message: most handlers finish long before the first beat.
        timer = loop.call_later(interval, beat)
        try:
            await work
        finally:
            if timer is not None:
                timer.cancel()

    async def _dead_letter(self, msg: NatsMessage, reason: str) -> None:
        raw = msg.raw_message
        seq = raw.metadata.sequence.stream if raw.metadata and raw.metadata.sequence else 0
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


async def ensure_streams(
    broker: NatsBroker,
    *,
    replicas: int = 1,
    max_bytes: int = DEFAULT_STREAM_MAX_BYTES,
    deadletter_max_bytes: int = DEFAULT_DEADLETTER_MAX_BYTES,
) -> None:
    """Create or update Quarry's streams; safe to call from every service at start-up."""
    js = broker.connection.jetstream()
    # Full, a stream drops its oldest messages: never a publish refused in the middle of a run
    # (and JetStream's message schedules allow nothing else). The services keep their own stores,
    # so what is lost is the oldest replayable history; size the limit for the replay horizon.
    for name, subs, limit in (
        (subjects.STREAM, subjects.STREAM_SUBJECTS, max_bytes),
        (subjects.DEADLETTER_STREAM, subjects.DEADLETTER_SUBJECTS, deadletter_max_bytes),
    ):
        config = StreamConfig(
            name=name,
            subjects=list(subs),
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_S,
            num_replicas=replicas,
            allow_msg_schedules=name == subjects.STREAM,
            # The orchestrator's timer sweep (quarry_runtime.timersweep) reads a pending schedule
            # by its subject, the one read its NATS user may make on this stream.
            allow_direct=name == subjects.STREAM,
            max_bytes=limit,
            discard=DiscardPolicy.OLD,
        )
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:
            # It exists with another configuration: bring what Quarry sets up to date.
            current = (await js.stream_info(name)).config
            if _managed(current) != _managed(config):
                await update_stream(js, config)


def _managed(config: StreamConfig) -> tuple[object, ...]:
    """The part of a stream's configuration that ensure_streams decides."""
    return (
        sorted(config.subjects or []),
        config.max_bytes,
        config.num_replicas,
        config.duplicate_window,
        bool(config.allow_msg_schedules),
        bool(config.allow_direct),
        config.discard,
    )


def _short(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    return text[:500]


def inbox_prefix(service: str) -> str:
    """The prefix of a service's reply and delivery subjects, where no other service may listen."""
    return f"_INBOX_{service}"


def lane_subjects(roles: Sequence[str]) -> list[str]:
    return [subjects.task_lane(role) for role in roles]
