"""Composition root: the only place the orchestrator connects to its store and the bus."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quarry_runtime.bus import Bus
from quarry_runtime.outbox import OutboxRelay, Outgoing, aggregate_at
from quarry_runtime.service import Service
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.orchestrator.application import Orchestrator
from services.orchestrator.handlers import subscriptions
from services.orchestrator.monitor import Monitor
from services.orchestrator.translate import translate, translate_monitor

NAME = "orchestrator"


class OrchestratorSettings(RuntimeSettings):
    """Settings of the orchestrator (the shared ones suffice for now)."""


def build(settings: RuntimeSettings) -> Service:
    app = Orchestrator(env=eventstore_env(settings, NAME))
    bus = Bus.from_settings(settings, NAME)

    at = aggregate_at(app)

    def outgoing(domain_event: Any) -> Sequence[Outgoing]:
        # One notification log holds both aggregates' events; the event class says whose.
        if type(domain_event).__qualname__.startswith(f"{Monitor.__name__}."):
            return translate_monitor(domain_event, at)
        return translate(domain_event, at)

    relay = OutboxRelay(app, bus, outgoing)
    app.on_saved = relay.wake
    for sub in subscriptions(app):
        bus.subscribe(sub)
    return Service(NAME, bus, background=[relay.run], on_stop=[app.close])
