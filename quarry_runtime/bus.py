"""The event bus: NATS JetStream on faststream's connection, with de-duplication and dead-lettering.

Every publish carries the event id as `Nats-Msg-Id`, so JetStream drops a second publish of
the same event inside the duplicate window. Every consumer is a durable pull consumer with
explicit acks: a handler that raises `NotReady` is redelivered later; a malformed message,
a `Rejected` one, or one that keeps failing is copied to `deadletter.v1.<service>` with the
reason in its headers and acknowledged, so the consumer keeps going. A handler that raises
`Unavailable` (its database or a downstream service is away) is redelivered with backoff for as
long as it takes: those deliveries are not the message's fault and never count toward dead-lettering.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats.errors
import nats.js.errors
import orjson
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsMessage, PullSub
from nats.aio.client import Client
from nats.js import JetStreamContext, api
from nats.js.api import DeliverPolicy

from contracts import subjects
from contracts.envelope import Event, TraceContext
from quarry_runtime.broker import (
    NATS_RECONNECT_ATTEMPTS,
    QuietFetchTimeouts,
    ReconnectingBroker,
    inbox_prefix,
    service_broker,
)
from quarry_runtime.buckets import Buckets
from quarry_runtime.busfaults import nats_outage_is_unavailable, outage_as_unavailable
from quarry_runtime.delivery import SCHEDULED_SUBJECTS, Deliveries, Redelivery
from quarry_runtime.inflight import InFlight
from quarry_runtime.pulling import PullConsumer
from quarry_runtime.settings import (
    DEFAULT_DEADLETTER_MAX_BYTES,
    DEFAULT_KV_MAX_BYTES,
    DEFAULT_OBJECT_STORE_MAX_BYTES,
    DEFAULT_STREAM_MAX_BYTES,
    RuntimeSettings,
)
from quarry_runtime.spans import recording
from quarry_runtime.streams import DUPLICATE_WINDOW_S, ensure_streams
from quarry_runtime.subscription import Handler, Subscription
from quarry_runtime.telemetry import inject_trace, sending

JETSTREAM_TIMEOUT_S = 5.0  # nats-py's JetStream API default, which publishing used

# The settings the Bus takes as they are, under the names of its keyword arguments.
SETTINGS_OF_THE_BUS = {
    "ack_wait_s",
    "max_deliver",
    "stream_replicas",
    "max_deaths",
    "stream_max_bytes",
    "deadletter_max_bytes",
    "kv_max_bytes",
    "object_store_max_bytes",
}

# What services, tests and tools import from here.
__all__ = [
    "DUPLICATE_WINDOW_S",
    "NATS_RECONNECT_ATTEMPTS",
    "SCHEDULED_SUBJECTS",
    "Bus",
    "Handler",
    "QuietFetchTimeouts",
    "ReconnectingBroker",
    "Subscription",
    "ensure_streams",
    "inbox_prefix",
    "lane_subjects",
]


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
        self.broker = service_broker(url, service, credentials=credentials, tls_ca_file=tls_ca_file)
        self._ack_wait_s = ack_wait_s
        self._stream_max_bytes = stream_max_bytes
        self._deadletter_max_bytes = deadletter_max_bytes
        self.replicas = stream_replicas
        # Every key-value bucket and object store a service opens on this bus's connection.
        self.buckets = Buckets(
            self._js, replicas=stream_replicas, kv_max_bytes=kv_max_bytes, object_store_max_bytes=object_store_max_bytes
        )
        self._stream = JStream(subjects.STREAM, declare=False)
        self._jetstream: JetStreamContext | None = None
        self._consumers: list[PullConsumer] = []
        self._inflight = InFlight(
            self._js,
            service,
            replicas=stream_replicas,
            max_bytes=kv_max_bytes,
            connection=lambda: self.broker.connection,
        )
        self._deliveries = Deliveries(
            self.broker, service, self._inflight, Redelivery(ack_wait_s, max_deliver, max_deaths)
        )
        # Which consumers hold messages without acking any: read by the liveness probe.
        self.progress = self._deliveries.progress

    @classmethod
    def from_settings(cls, settings: RuntimeSettings, service: str) -> Bus:
        return cls(
            settings.nats_url,
            service,
            credentials=settings.nats_credentials(),
            tls_ca_file=settings.nats_tls_ca_file,
            **settings.model_dump(include=SETTINGS_OF_THE_BUS),
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
        if self._consumers:
            await self._inflight.open()
        # Not `broker.start()`: that would start faststream's own subscribers beside the Bus's.
        for consumer in self._consumers:
            await consumer.start()

    async def stop(self) -> None:
        for consumer in self._consumers:
            await consumer.stop()
        await self.broker.stop()

    async def publish(self, event: Event, subject: str | None = None) -> bool:
        """Publish and wait for JetStream's ack; returns False when it was a duplicate."""
        if recording():  # in a producer span, whose context the headers carry
            with sending(event, subject or event.SUBJECT):
                return await self._publish(event, subject)
        return await self._publish(event, subject)

    async def _publish(self, event: Event, subject: str | None) -> bool:
        headers = {"Nats-Msg-Id": event.event_id, "Quarry-Type": event.type}
        inject_trace(headers)
        if event.trace.traceparent is None and "traceparent" in headers:
            # The envelope keeps the trace too, so it survives storage and replay, not only the hop.
            trace = TraceContext(traceparent=headers["traceparent"], tracestate=headers.get("tracestate"))
            event = event.model_copy(update={"trace": trace})
        # A JetStream publish on faststream's connection: faststream's publisher middleware
        # (message wrapping, correlation ids) adds nothing we use on this hot path.
        # Not stored (or not known to be) in an outage: the caller's unit of work is repeated whole
        # later, and a second publish of the same id is de-duplicated if this one was stored after all.
        try:
            ack = await jetstream_publish(self.broker.connection, subject or event.SUBJECT, wire_bytes(event), headers)
        except Exception as exc:
            unavailable = outage_as_unavailable(exc, f"publishing {event.type} {event.event_id}")
            if unavailable is None:
                raise
            raise unavailable from exc
        return not ack.get("duplicate", False)

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
        if recording():  # the timer fires in the run's trace, under this producer span
            with sending(event, event.SUBJECT):
                await self._schedule(event, headers)
            return
        await self._schedule(event, headers)

    async def _schedule(self, event: Event, headers: dict[str, str]) -> None:
        inject_trace(headers)
        with nats_outage_is_unavailable(f"scheduling {event.type} {event.event_id}"):
            await self._js().publish(
                subjects.timer_schedule(event.event_id), event.to_bytes(), headers=headers, stream=subjects.STREAM
            )

    def subscribe(self, sub: Subscription) -> None:
        """Register a durable pull consumer; call before `start()`."""
        model = sub.event_type()

        async def on_message(msg: Any) -> None:
            # The decoder hands over the framework's message object itself as the body, so
            # the handler needs no context injection (which faststream resolves in a thread).
            await self._deliveries.dispatch(msg, model, sub)

        # On a server the Bus pulls the messages itself (quarry_runtime.pulling), straight into the
        # dispatch (no coroutine of its own per message); the faststream subscriber below is what
        # its in-memory TestNatsBroker delivers to.
        dispatch = functools.partial(self._deliveries.dispatch, model=model, sub=sub)
        self._consumers.append(
            PullConsumer(self._js, sub, dispatch, ack_wait_s=self._ack_wait_s, inbox=inbox_prefix(self.service))
        )

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


async def jetstream_publish(nc: Client, subject: str, payload: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """nats-py's `JetStreamContext.publish(..., stream=QUARRY)`, the same request, answer and errors,
    but the ack left as the server's JSON: its PubAck dataclass (built field by field) and the
    standard json module cost half of what the Bus added to a publish."""
    headers[api.Header.EXPECTED_STREAM] = subjects.STREAM  # stored in no other stream, as `stream=` says
    try:
        msg = await nc.request(subject, payload, timeout=JETSTREAM_TIMEOUT_S, headers=headers)
    except nats.errors.NoRespondersError:
        raise nats.js.errors.NoStreamResponseError from None
    ack: dict[str, Any] = orjson.loads(msg.data)
    if "error" in ack:
        raise nats.js.errors.APIError.from_error(ack["error"])  # (raises itself: the error its code stands for)
    return ack


def wire_bytes(event: Event) -> bytes:
    """`event.to_bytes()`, the same bytes, straight from the model's serializer: without
    model_dump_json's keyword handling and a str decoded then encoded again, a third cheaper."""
    return event.__pydantic_serializer__.to_json(event)


def lane_subjects(roles: Sequence[str]) -> list[str]:
    return [subjects.task_lane(role) for role in roles]
