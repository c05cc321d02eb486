"""Composition root: the only place the orchestrator connects to its store and the bus."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quarry_runtime.bus import Bus
from quarry_runtime.outbox import OutboxRelay, Outgoing
from quarry_runtime.service import Service
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.orchestrator.application import Orchestrator
from services.orchestrator.domain import Run
from services.orchestrator.handlers import subscriptions
from services.orchestrator.monitor import Monitor
from services.orchestrator.translate import translate, translate_monitor

NAME = "orchestrator"


class OrchestratorSettings(RuntimeSettings):
    """Settings of the orchestrator (the shared ones suffice for now)."""


def build(settings: RuntimeSettings) -> Service:
    app = Orchestrator(env=eventstore_env(settings, NAME))
    bus = Bus.from_settings(settings, NAME)

    def run_at(originator_id: Any, version: int) -> Run:
        run: Run = app.repository.get(originator_id, version=version)
        return run

    def monitor_at(originator_id: Any, version: int) -> Monitor:
        monitor: Monitor = app.repository.get(originator_id, version=version)
        return monitor

    def outgoing(domain_event: Any) -> Sequence[Outgoing]:
        if type(domain_event).__qualname__.startswith("Monitor."):
            return translate_monitor(domain_event, monitor_at)
        return translate(domain_event, run_at)

    relay = OutboxRelay(app, bus, outgoing)
    app.on_saved = relay.wake
    for sub in subscriptions(app):
        bus.subscribe(sub)
    return Service(NAME, bus, background=[relay.run], on_stop=[app.close])
