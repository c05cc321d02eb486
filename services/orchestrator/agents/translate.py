"""Stored AgentComponent events -> contract events: a new version is announced once, with its
configuration, and each stored evaluation with its verdict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts.agents import (
    AgentConfig,
    AgentVersionEvaluated,
    AgentVersionEvaluatedPayload,
    AgentVersionRegistered,
    AgentVersionRegisteredPayload,
)
from quarry_runtime.outbox import Outgoing
from services.orchestrator.emitter import Emitter


def translate_agents(domain_event: Any) -> Sequence[Outgoing]:
    """What one stored AgentComponent event publishes (its stored event holds all it needs)."""
    name = type(domain_event).__name__
    if name not in ("VersionRegistered", "Evaluated"):
        return ()  # opening a component announces nothing: its first version does
    e = Emitter(domain_event, tenant_id=domain_event.tenant_id, user_id=domain_event.user_id, roles=[])
    if name == "Evaluated":
        e.emit(AgentVersionEvaluated, AgentVersionEvaluatedPayload.model_validate(domain_event.evaluation))
        return e.out
    payload = AgentVersionRegisteredPayload(
        component=domain_event.component,
        version=domain_event.version,
        config=AgentConfig.model_validate(domain_event.config),
        note=domain_event.note,
    )
    e.emit(AgentVersionRegistered, payload)
    return e.out
