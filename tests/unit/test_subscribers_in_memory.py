"""Subscribers through faststream's own test broker: a real service's handlers, in memory, no server."""

from __future__ import annotations

from typing import Any

import pytest
from faststream.nats import JStream, NatsMessage, TestNatsBroker

from contracts import subjects
from contracts.envelope import Actor, Event
from contracts.ids import new_id
from contracts.run import RunCancelRequested, RunRequested, RunRequestedPayload
from quarry_runtime.bus import Bus, Subscription
from services.orchestrator.application import Orchestrator
from services.orchestrator.handlers import subscriptions

# Never dialled: TestNatsBroker stands in for the server.
NO_SERVER = "nats://127.0.0.1:1"


def requested() -> RunRequested:
    return RunRequested.create(
        RunRequestedPayload(question="what is a context manager", depth=1, max_sources=5),
        tenant_id="tenant-a",
        run_id=new_id(),
        actor=Actor(user_id="u1", roles=["owner"]),
    )


def orchestrator_bus(app: Orchestrator) -> Bus:
    bus = Bus(NO_SERVER, "orchestrator")
    for sub in subscriptions(app):
        bus.subscribe(sub)
    return bus


async def test_a_run_requested_on_the_bus_opens_the_run_in_the_orchestrator() -> None:
    app = Orchestrator(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    bus = orchestrator_bus(app)
    req = requested()
    async with TestNatsBroker(bus.broker) as broker:
        await broker.publish(
            req.to_bytes(), subjects.RUN_REQUESTED, headers={"Nats-Msg-Id": req.event_id}, stream=subjects.STREAM
        )
    run = app.get_run(req.run_id or "")
    assert (run.tenant_id, run.question) == ("tenant-a", "what is a context manager")


async def test_a_malformed_message_is_dead_lettered_with_the_model_it_failed() -> None:
    app = Orchestrator(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    bus = orchestrator_bus(app)
    dead: list[NatsMessage] = []

    async def keep_message(message: NatsMessage) -> NatsMessage:
        return message

    @bus.broker.subscriber(
        subjects.deadletter("orchestrator"),
        stream=JStream(subjects.DEADLETTER_STREAM, declare=False),
        decoder=keep_message,
    )
    async def on_dead_letter(message: NatsMessage) -> None:
        dead.append(message)

    async with TestNatsBroker(bus.broker) as broker:
        await broker.publish(b'{"type": "run.requested"}', subjects.RUN_REQUESTED, stream=subjects.STREAM)
    assert len(dead) == 1
    assert dead[0].headers["Quarry-Reason"].startswith("malformed RunRequested:")
    assert dead[0].headers["Quarry-Subject"] == subjects.RUN_REQUESTED


async def on_requested(event: RunRequested) -> None:
    del event


async def on_any(event: Event) -> None:
    del event


async def on_untyped(event: Any) -> None:
    del event


def test_the_handlers_parameter_names_the_model() -> None:
    assert Subscription(subjects.RUN_REQUESTED, "d", on_requested).event_type() is RunRequested


def test_a_handler_of_any_event_gets_the_subjects_model_or_on_a_wildcard_whatever_the_message_is() -> None:
    assert Subscription(subjects.RUN_REQUESTED, "d", on_untyped).event_type() is RunRequested
    assert Subscription(subjects.RUN_REQUESTED, "d", on_any).event_type() is RunRequested
    assert Subscription("credits.>", "d", on_any).event_type() is None


def test_a_handler_typed_for_another_subjects_event_is_refused_when_subscribed() -> None:
    bus = Bus(NO_SERVER, "orchestrator")
    with pytest.raises(TypeError, match=RunCancelRequested.__name__):
        bus.subscribe(Subscription(subjects.RUN_CANCEL_REQUESTED, "d", on_requested))
