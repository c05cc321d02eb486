"""Messages read out of JetStream by sequence and time, without a consumer; and the one publish
an operator may make, a dead letter's redrive.

Reads are direct gets: one message by sequence, the first one at or after a time, or a batch of
up to `batch` messages from a sequence onwards on a filter subject (nats-server 2.11+), all
answered to the connection's own inbox. Nothing is created, acknowledged or changed. The
dead-letter stream does not allow direct gets, so its messages are read one by one with the
stream's message get: they are few.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from services.gateway.adapters.jetstream_state import API
from services.gateway.adapters.jetstream_state import jetstream_time as _time
from services.gateway.errors import Unavailable

EXPECTED_STREAM = "Nats-Expected-Stream"
# Headers JetStream adds to a direct get's answer: where the message sits, not what it carried.
_DIRECT_HEADERS = frozenset(
    {"Nats-Stream", "Nats-Subject", "Nats-Sequence", "Nats-Time-Stamp", "Nats-Num-Pending", "Nats-Last-Sequence"}
)


@dataclass(frozen=True)
class StoredMessage:
    """One message as its stream keeps it."""

    stream: str
    seq: int
    subject: str
    at: datetime
    data: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _from_direct(stream: str, msg: Msg) -> StoredMessage | None:
    headers = dict(msg.headers or {})
    if headers.get("Status") is not None or "Nats-Sequence" not in headers:
        return None  # 404 (nothing there), 204 (end of a batch), 408 (a batch that ran out of time)
    at = _time(headers.get("Nats-Time-Stamp"))
    if at is None:
        return None
    own = {str(k): str(v) for k, v in headers.items() if k not in _DIRECT_HEADERS}
    return StoredMessage(stream, int(headers["Nats-Sequence"]), headers["Nats-Subject"], at, msg.data, own)


def _headers_of(raw: str | None) -> dict[str, str]:
    """The headers of a stream message get's answer (`NATS/1.0\\r\\nName: value\\r\\n...`)."""
    if not raw:
        return {}
    lines = base64.b64decode(raw).decode(errors="replace").split("\r\n")[1:]
    pairs = (line.split(":", 1) for line in lines if ":" in line)
    return {name.strip(): value.strip() for name, value in pairs}


class JetStreamMessages:
    """Reads (and redrives) through `client`; every answer comes to its own inbox."""

    def __init__(self, client: Client, *, timeout_s: float = 2.0) -> None:
        self._client, self._timeout_s = client, timeout_s

    async def by_seq(self, stream: str, seq: int) -> StoredMessage | None:
        """The message at `seq` of a stream that allows direct gets; None when there is none."""
        reply = await self._request(f"{API}.DIRECT.GET.{stream}", {"seq": seq})
        return _from_direct(stream, reply)

    async def first_at(self, stream: str, at: datetime, subject: str = ">") -> StoredMessage | None:
        """The first message on `subject` stored at or after `at`."""
        body = {"start_time": at.isoformat().replace("+00:00", "Z"), "next_by_subj": subject}
        return _from_direct(stream, await self._request(f"{API}.DIRECT.GET.{stream}", body))

    async def batch(self, stream: str, seq: int, count: int, subject: str = ">") -> list[StoredMessage]:
        """Up to `count` messages on `subject` from `seq` onwards, in stream order, in one request."""
        found: list[StoredMessage] = []
        ended = asyncio.Event()

        # A callback, not `next_msg`: a wait with a time-out per message cost more than the rest.
        async def take(msg: Msg) -> None:
            message = _from_direct(stream, msg)
            if message is None:
                ended.set()  # the end of the batch (204), or nothing there (404)
            else:
                found.append(message)
                if len(found) >= count:
                    ended.set()

        inbox = self._client.new_inbox()
        sub = await self._client.subscribe(inbox, cb=take, pending_msgs_limit=max(count + 16, 65536))
        try:
            body = json.dumps({"seq": max(seq, 1), "batch": count, "next_by_subj": subject}).encode()
            await self._client.publish(f"{API}.DIRECT.GET.{stream}", body, reply=inbox)
            try:
                await asyncio.wait_for(ended.wait(), self._timeout_s)
            except TimeoutError as exc:
                raise Unavailable(f"JetStream did not finish a batch of {stream}") from exc
        finally:
            await sub.unsubscribe()
        return found

    async def stored(self, stream: str, seq: int) -> StoredMessage | None:
        """The message at `seq` through the stream's message get (streams without direct gets)."""
        reply = await self._request(f"{API}.STREAM.MSG.GET.{stream}", {"seq": seq})
        answer = json.loads(reply.data)
        if "error" in answer:
            if answer["error"].get("code") == 404:
                return None
            raise Unavailable(f"JetStream refused to read {stream}: {answer['error'].get('description')}")
        message = answer["message"]
        at = _time(message.get("time"))
        if at is None:
            return None
        data = base64.b64decode(message.get("data") or "")
        return StoredMessage(
            stream, int(message["seq"]), message["subject"], at, data, _headers_of(message.get("hdrs"))
        )

    async def publish(self, subject: str, data: bytes, headers: dict[str, str], stream: str) -> bool:
        """Store `data` on `subject` in `stream`; False when JetStream knew its `Nats-Msg-Id` already."""
        reply = await self._request_raw(subject, data, {**headers, EXPECTED_STREAM: stream})
        ack = json.loads(reply.data)
        if "error" in ack:
            raise Unavailable(f"JetStream refused the publish on {subject}: {ack['error'].get('description')}")
        return not ack.get("duplicate", False)

    async def _request(self, subject: str, body: dict[str, Any]) -> Msg:
        return await self._request_raw(subject, json.dumps(body).encode(), None)

    async def _request_raw(self, subject: str, data: bytes, headers: dict[str, str] | None) -> Msg:
        try:
            return await self._client.request(subject, data, timeout=self._timeout_s, headers=headers)
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.errors.ConnectionClosedError) as exc:
            raise Unavailable(f"JetStream did not answer {subject}: {type(exc).__name__}") from exc
