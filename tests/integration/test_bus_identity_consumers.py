"""A service's NATS user makes, reads and deletes only its own consumers, under the names and
filters of its API subjects."""

from __future__ import annotations

import json

import nats
import pytest
from nats.js.api import ConsumerConfig

from contracts import consumers, subjects
from tests.support.nats_users import (
    BILLING_COMPLETED,
    Server,
    Violations,
    billing_has_its_consumer,
    connect_as,
    server,
    streams,
)

pytestmark = pytest.mark.infra
__all__ = ["server", "streams"]  # fixtures

SNOOPS = [
    pytest.param(
        "reporter-lane",
        "credits.>",
        f"$JS.API.CONSUMER.CREATE.{subjects.STREAM}.reporter-lane.credits.>",
        id="own-name-other-filter",
    ),
    pytest.param(
        "reporter-lane", ">", f"$JS.API.CONSUMER.CREATE.{subjects.STREAM}.reporter-lane", id="own-name-every-event"
    ),
    pytest.param(
        "reporter-snoop",
        subjects.CREDITS_REFUNDED,
        f"$JS.API.CONSUMER.CREATE.{subjects.STREAM}.reporter-snoop.{subjects.CREDITS_REFUNDED}",
        id="new-name",
    ),
    pytest.param(None, ">", f"$JS.API.CONSUMER.CREATE.{subjects.STREAM}", id="ephemeral"),
]


@pytest.mark.parametrize(("name", "filter_subject", "api"), SNOOPS)
async def test_a_service_cannot_make_a_consumer_reading_other_events(
    server: Server, streams: None, name: str | None, filter_subject: str, api: str
) -> None:
    """A consumer is a way to read events: the reporter's user may not make one that reads credits
    (or everything), under its own consumer's name, a new one, or none."""
    errors = Violations()
    nc = await connect_as(server, "reporter", errors)
    try:
        config = ConsumerConfig(name=name, durable_name=name, filter_subject=filter_subject)
        with pytest.raises(nats.errors.TimeoutError):
            await nc.jetstream(timeout=1.0).add_consumer(subjects.STREAM, config)
        await errors.wait_for(api)
        # The legacy way, with the filter only in the request's body.
        with pytest.raises(nats.errors.TimeoutError):
            await nc.request(
                f"$JS.API.CONSUMER.DURABLE.CREATE.{subjects.STREAM}.reporter-snoop",
                json.dumps(
                    {
                        "stream_name": subjects.STREAM,
                        "config": {"durable_name": "reporter-snoop", "filter_subject": ">"},
                    }
                ).encode(),
                timeout=1.0,
            )
        await errors.wait_for(f"$JS.API.CONSUMER.DURABLE.CREATE.{subjects.STREAM}.reporter-snoop")
    finally:
        await nc.close()


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(
            {"name": "reporter-lane", "durable_name": "reporter-lane", "filter_subject": "credits.>"}, id="filter"
        ),
        pytest.param(
            {"name": "reporter-lane", "durable_name": "reporter-lane", "filter_subjects": ["credits.>"]}, id="filters"
        ),
        pytest.param(
            {
                "name": "billing-run-v1-completed",
                "durable_name": "billing-run-v1-completed",
                "filter_subject": subjects.task_lane("reporter"),
            },
            id="name",
        ),
    ],
)
async def test_the_server_holds_a_consumer_to_the_name_and_filter_of_its_api_subject(
    server: Server, streams: None, config: dict[str, object]
) -> None:
    """The permissions pin a consumer's name and filter in the API subject; the server refuses a
    request whose body says otherwise (or it would be a way around them)."""
    errors = Violations()
    nc = await connect_as(server, "reporter", errors)
    try:
        lane = consumers.lane("reporter")
        body = {"stream_name": subjects.STREAM, "config": {**config, "ack_policy": "explicit"}}
        reply = await nc.request(
            f"$JS.API.CONSUMER.CREATE.{subjects.STREAM}.{lane.durable}.{lane.subject}",
            json.dumps(body).encode(),
            timeout=2.0,
        )
        assert "error" in json.loads(reply.data), reply.data
        assert errors.seen == []
    finally:
        await nc.close()


async def test_a_service_cannot_delete_drain_or_read_another_services_consumer(server: Server, streams: None) -> None:
    await billing_has_its_consumer(server)
    errors = Violations()
    nc = await connect_as(server, "reporter", errors)
    admin = await nats.connect(server.url, user=server.admin[0], password=server.admin[1])
    try:
        js = nc.jetstream(timeout=1.0)
        with pytest.raises(nats.errors.TimeoutError):
            await js.delete_consumer(subjects.STREAM, BILLING_COMPLETED)
        await errors.wait_for(f"$JS.API.CONSUMER.DELETE.{subjects.STREAM}.{BILLING_COMPLETED}")
        assert (await admin.jetstream().consumer_info(subjects.STREAM, BILLING_COMPLETED)).name == BILLING_COMPLETED
        # Nor take billing's messages from its queue (a pull request names the consumer).
        pull = await js.pull_subscribe_bind(BILLING_COMPLETED, stream=subjects.STREAM)
        with pytest.raises(nats.errors.TimeoutError):
            await pull.fetch(1, timeout=1.0)
        await errors.wait_for(f"$JS.API.CONSUMER.MSG.NEXT.{subjects.STREAM}.{BILLING_COMPLETED}")
        # Nor acknowledge billing's messages unhandled.
        ack = f"$JS.ACK.{subjects.STREAM}.{BILLING_COMPLETED}.1.1.1.1.0"
        await nc.publish(ack, b"+ACK")
        await errors.wait_for(ack)
        # Nor read the event stream message by message.
        with pytest.raises(nats.errors.TimeoutError):
            await js.get_msg(subjects.STREAM, 1)
        await errors.wait_for(f"$JS.API.STREAM.MSG.GET.{subjects.STREAM}")
    finally:
        await nc.close()
        await admin.close()
