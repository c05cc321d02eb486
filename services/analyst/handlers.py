"""The analyst's lane: plan, collect findings, synthesise cited drafts and verify them (offline by default)."""

from __future__ import annotations

import dataclasses
import functools

from quarry_runtime.agent_configs import AgentConfigs
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.worker import lane
from services.analyst.application.tasks import execute_for_tenant
from services.analyst.models import Models


def subscriptions(bus: Bus, models: Models, *, workers: int = 1, environment: str = "production") -> list[Subscription]:
    """The analyst's lane; `workers` tasks run at once, so one slow model call does not hold the
    tasks fetched with it. A task naming an agent version runs it, asked of the orchestrator."""
    agents = AgentConfigs(lambda: bus.broker.connection.request)
    run = functools.partial(
        execute_for_tenant, models=models, publish=bus.publish, agents=agents, environment=environment
    )
    return [dataclasses.replace(lane(bus, "analyst", run), max_workers=workers)]
