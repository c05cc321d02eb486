"""The Bus's per-message shortcuts read what the slow path would: the delivery count from the ack
subject, whether a handler needs the trace wrapper, an outage sorted without a context manager,
and a held message still beaten for while its handler runs."""

from __future__ import annotations

import asyncio
from typing import Any

import nats.errors
import nats.js.errors
import pytest
from nats.aio.msg import Msg

from contracts.envelope import Actor
from contracts.run import RunRequested, RunRequestedPayload
from contracts.usage import UsageRecorded, UsageRecordedPayload
from quarry_runtime import telemetry
from quarry_runtime.bus import jetstream_publish, wire_bytes
from quarry_runtime.busfaults import outage_as_unavailable
from quarry_runtime.delivery import Heartbeat, delivery_count, jetstream_metadata
from quarry_runtime.errors import Unavailable


def delivered(reply: str) -> Msg:
    return Msg(None, subject="run.v1.requested", reply=reply, data=b"{}")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "reply",
    [
        "$JS.ACK.QUARRY.billing-usage.1.42.7.1700000000000000000.0",
        "$JS.ACK.QUARRY.billing-usage.3.42.9.1700000000000000000.12",
        "$JS.ACK.hub.ACCHASH.QUARRY.billing-usage.5.42.9.1700000000000000000.0.r4nd0m",
        "$JS.ACK.hub.ACCHASH.QUARRY.billing-usage.2.42.9.1700000000000000000.0",
    ],
)
def test_the_delivery_count_read_from_the_ack_subject_is_the_one_in_the_metadata(reply: str) -> None:
    meta = jetstream_metadata(delivered(reply))
    assert meta is not None
    assert delivery_count(delivered(reply)) == meta.num_delivered


@pytest.mark.parametrize("reply", ["", "_INBOX.abc.1", "some.reply"])
def test_a_message_that_is_no_jetstream_delivery_counts_as_a_first_delivery(reply: str) -> None:
    assert delivery_count(delivered(reply)) == 1


def test_only_a_message_with_a_trace_needs_the_trace_wrapper_when_nothing_is_recorded() -> None:
    assert telemetry.traced({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})
    assert not telemetry.traced({"Nats-Msg-Id": "e-1"})
    assert not telemetry.traced(None)


def test_an_outage_becomes_unavailable_and_anything_else_is_raised_as_it_is() -> None:
    outage = outage_as_unavailable(nats.errors.NoRespondersError(), "publishing run.requested e-1")
    assert isinstance(outage, Unavailable) and "publishing run.requested e-1" in str(outage)
    assert outage_as_unavailable(ValueError("bad"), "publishing") is None
    assert outage_as_unavailable(Unavailable("already"), "publishing") is None


class Held:
    def __init__(self) -> None:
        self.beats = 0

    async def in_progress(self) -> None:
        self.beats += 1


async def test_a_held_message_is_beaten_for_until_it_is_released() -> None:
    heartbeat = Heartbeat(0.02)
    msg: Any = Held()
    heartbeat.hold(msg)
    await asyncio.sleep(0.07)
    heartbeat.release(msg)
    beats = msg.beats
    assert beats >= 2
    await asyncio.sleep(0.05)
    assert msg.beats == beats  # released: no more beats


def test_the_bus_publishes_the_very_bytes_of_to_bytes() -> None:
    events = [
        RunRequested.create(
            RunRequestedPayload(question="Qu'est-ce qu'un « with » ? 🐍", depth=2, max_sources=3),
            tenant_id="t-1",
            run_id="r-1",
            actor=Actor(user_id="u-1", roles=["owner"]),
        ),
        UsageRecorded.create(
            UsageRecordedPayload(task_id="task-1", kind="search", tool="web_search", search_calls=1),
            tenant_id="t-1",
            run_id="r-1",
        ),
    ]
    for event in events:
        assert wire_bytes(event) == event.to_bytes()


class Answering:
    """A connection whose JetStream answers each request with `answer` (or raises it)."""

    def __init__(self, answer: bytes | Exception) -> None:
        self.answer = answer
        self.sent: list[tuple[str, dict[str, str]]] = []

    async def request(self, subject: str, payload: bytes, **options: Any) -> Msg:
        self.sent.append((subject, dict(options["headers"])))
        if isinstance(self.answer, Exception):
            raise self.answer
        return Msg(None, subject="_INBOX.x", data=self.answer)  # type: ignore[arg-type]


async def test_a_publish_names_its_stream_and_reads_the_acks_duplicate_flag() -> None:
    nc: Any = Answering(b'{"stream": "QUARRY", "seq": 7, "duplicate": true}')
    ack = await jetstream_publish(nc, "run.v1.requested", b"{}", {"Nats-Msg-Id": "e-1"})
    assert ack["duplicate"] is True
    assert nc.sent == [("run.v1.requested", {"Nats-Msg-Id": "e-1", "Nats-Expected-Stream": "QUARRY"})]
    nc.answer = b'{"stream": "QUARRY", "seq": 8}'
    assert "duplicate" not in await jetstream_publish(nc, "run.v1.requested", b"{}", {"Nats-Msg-Id": "e-2"})


async def test_a_publish_raises_what_nats_py_would() -> None:
    unavailable: Any = Answering(b'{"error": {"code": 503, "err_code": 10077, "description": "store failed"}}')
    with pytest.raises(nats.js.errors.ServiceUnavailableError):
        await jetstream_publish(unavailable, "run.v1.requested", b"{}", {})
    nobody: Any = Answering(nats.errors.NoRespondersError())
    with pytest.raises(nats.js.errors.NoStreamResponseError):
        await jetstream_publish(nobody, "run.v1.requested", b"{}", {})
