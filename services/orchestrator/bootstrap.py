"""Composition root: the only place the orchestrator connects to its store and the bus."""

from __future__ import annotations

from typing import Any

from quarry_runtime.bus import Bus
from quarry_runtime.outbox import OutboxRelay
from quarry_runtime.service import Service
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.orchestrator.application import Orchestrator
from services.orchestrator.domain import Run
from services.orchestrator.handlers import subscriptions
from services.orchestrator.translate import translate

NAME = "orchestrator"


class OrchestratorSettings(RuntimeSettings):
    """Settings of the orchestrator (the shared ones suffice for now)."""


def build(settings: RuntimeSettings) -> Service:
    app = Orchestrator(env=eventstore_env(settings, NAME))
    bus = Bus.from_settings(settings, NAME)

    def run_at(originator_id: Any, version: int) -> Run:
        run: Run = app.repository.get(originator_id, version=version)
        return run

    relay = OutboxRelay(app, bus, lambda domain_event: translate(domain_event, run_at))
    app.on_saved = relay.wake
    for sub in subscriptions(app):
        bus.subscribe(sub)
    return Service(NAME, bus, background=[relay.run], on_stop=[app.close])
