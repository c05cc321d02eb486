"""What JetStream says about its streams and consumers, read through its API without side effects.

Only requests that describe or read: the stream list, each stream's consumer list, and one
message's time by sequence (a direct get on streams that allow it, the stream's message get on
others). Nothing here creates a consumer, acknowledges a message or changes a stream, so it is
safe on work-queue and interest streams. The JSON is JetStream's own (nats-py's dataclasses
drop the first and last message times); unknown fields are ignored.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import nats.errors
from nats.aio.client import Client
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from services.gateway.errors import Unavailable

API = "$JS.API"
PAGE = 256  # JetStream's own page size for both lists


def _time(value: Any) -> datetime | None:
    """JetStream's RFC 3339 time (nanoseconds; the zero time for "none") as a datetime."""
    if not value or str(value).startswith("0001-01-01"):
        return None
    text = str(value).replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # keep microseconds: Python reads no more digits than that
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


jetstream_time = _time  # for the other readers of JetStream's answers
Time = Annotated[datetime | None, BeforeValidator(_time)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class StreamConfig(_Wire):
    name: str
    subjects: list[str] = Field(default_factory=list)
    retention: str = "limits"
    storage: str = "file"
    discard: str = "old"
    max_msgs: int = -1
    max_bytes: int = -1
    max_age: int = 0  # nanoseconds; 0: no limit
    max_msgs_per_subject: int = -1
    max_msg_size: int = -1
    num_replicas: int = 1
    allow_direct: bool = False


class StreamState(_Wire):
    messages: int = 0
    bytes: int = 0
    first_seq: int = 0
    first_ts: Time = None
    last_seq: int = 0
    last_ts: Time = None
    num_subjects: int = 0
    num_deleted: int = 0
    consumer_count: int = 0


class StreamInfo(_Wire):
    config: StreamConfig
    state: StreamState
    created: Time = None


class ConsumerConfig(_Wire):
    durable_name: str | None = None
    filter_subject: str | None = None
    filter_subjects: list[str] | None = None
    ack_policy: str = "explicit"
    deliver_policy: str = "all"
    max_deliver: int = -1
    ack_wait: int = 0  # nanoseconds

    def filters(self) -> list[str]:
        """The subjects the consumer takes ("all of them" as `>`)."""
        return list(self.filter_subjects or ([self.filter_subject] if self.filter_subject else [">"]))


class SequenceInfo(_Wire):
    consumer_seq: int = 0
    stream_seq: int = 0
    last_active: Time = None


class ConsumerInfo(_Wire):
    stream_name: str
    name: str
    config: ConsumerConfig
    created: Time = None
    delivered: SequenceInfo = Field(default_factory=SequenceInfo)
    ack_floor: SequenceInfo = Field(default_factory=SequenceInfo)
    num_pending: int = 0
    num_ack_pending: int = 0
    num_redelivered: int = 0
    num_waiting: int = 0


@dataclass(frozen=True)
class Stored:
    """Where a message sits in its stream and when it was stored: all a lag needs of it."""

    seq: int
    at: datetime


class JetStreamState:
    """Reads through `client`. `readable` names the streams whose messages its NATS user may get
    (quarry_security.natsauth): a get it may not make would only time out."""

    def __init__(self, client: Client, readable: frozenset[str], *, timeout_s: float = 2.0) -> None:
        self._client, self._readable, self._timeout_s = client, readable, timeout_s

    async def streams(self) -> list[StreamInfo]:
        """Every stream with its configuration and state, by name."""
        found = [StreamInfo.model_validate(s) for s in await self._pages(f"{API}.STREAM.LIST", "streams")]
        return sorted(found, key=lambda s: s.config.name)

    async def consumers(self, stream: str) -> list[ConsumerInfo]:
        """Every consumer of `stream` (durable and ephemeral), by name."""
        found = [
            ConsumerInfo.model_validate(c) for c in await self._pages(f"{API}.CONSUMER.LIST.{stream}", "consumers")
        ]
        return sorted(found, key=lambda c: c.name)

    async def first_from(self, stream: StreamConfig, seq: int, subjects: list[str]) -> Stored | None:
        """The first message at or after `seq` on any of `subjects` (its sequence and time only);
        None when there is none, or the stream is not one the gateway may read."""
        if stream.name not in self._readable:
            return None
        found = await asyncio.gather(*(self._next(stream, seq, subject) for subject in subjects))
        present = [m for m in found if m is not None]
        return min(present, key=lambda m: m.seq) if present else None

    async def _next(self, stream: StreamConfig, seq: int, subject: str) -> Stored | None:
        body = json.dumps({"seq": seq, "next_by_subj": subject}).encode()
        if stream.allow_direct:
            reply = await self._request(f"{API}.DIRECT.GET.{stream.name}", body)
            headers = reply.headers or {}
            at = _time(headers.get("Nats-Time-Stamp"))
            if headers.get("Status") is not None or at is None:
                return None  # 404: nothing at or after `seq` on that subject
            return Stored(int(headers["Nats-Sequence"]), at)
        answer = json.loads((await self._request(f"{API}.STREAM.MSG.GET.{stream.name}", body)).data)
        if "error" in answer:
            if answer["error"].get("code") == 404:
                return None
            raise Unavailable(f"JetStream refused to read {stream.name}: {answer['error'].get('description')}")
        message = answer.get("message", {})
        at = _time(message.get("time"))
        return None if at is None else Stored(int(message["seq"]), at)

    async def _pages(self, subject: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            answer = json.loads((await self._request(subject, json.dumps({"offset": len(items)}).encode())).data)
            if "error" in answer:
                raise Unavailable(f"JetStream refused {subject}: {answer['error'].get('description')}")
            page = answer.get(key) or []
            items += page
            if not page or len(items) >= int(answer.get("total", 0)) or len(page) < int(answer.get("limit", PAGE)):
                return items

    async def _request(self, subject: str, body: bytes) -> Any:
        try:
            return await self._client.request(subject, body, timeout=self._timeout_s)
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.errors.ConnectionClosedError) as exc:
            raise Unavailable(f"JetStream did not answer {subject}: {type(exc).__name__}") from exc
