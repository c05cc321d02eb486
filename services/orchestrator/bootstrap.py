"""Composition root: the only place the orchestrator connects to its store and the bus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from quarry_runtime.bus import Bus
from quarry_runtime.health import store_check
from quarry_runtime.outbox import OutboxRelay, Outgoing, aggregate_at
from quarry_runtime.service import Service
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from quarry_runtime.timersweep import DEFAULT_GRACE_S, DEFAULT_INTERVAL_S, TimerSweep
from quarry_security.delegation import KeyDirectory, SigningKey, scopes_for
from services.orchestrator.agents.domain import AgentComponent
from services.orchestrator.agents.replies import serve as serve_agents
from services.orchestrator.agents.translate import translate_agents
from services.orchestrator.application import Orchestrator
from services.orchestrator.emitter import AGENT
from services.orchestrator.handlers import subscriptions
from services.orchestrator.meters import RunMeters
from services.orchestrator.monitors.domain import Monitor
from services.orchestrator.monitors.translate import translate_monitor
from services.orchestrator.questions.domain import Question
from services.orchestrator.questions.translate import translate_question
from services.orchestrator.rollouts.board import RolloutBoard
from services.orchestrator.rollouts.domain import Rollout
from services.orchestrator.rollouts.replies import serve as serve_rollouts
from services.orchestrator.rollouts.translate import translate_rollout
from services.orchestrator.runs.domain import Run
from services.orchestrator.runs.translate import translate

NAME = "orchestrator"
Sign = Callable[[Run | Question, str], str | None]
log = logging.getLogger(__name__)


class OrchestratorSettings(RuntimeSettings):
    delegation_key_file: Path | None = Field(
        default=None, description="Ed25519 private key (PEM) for delegation tokens; made under data_dir when unset"
    )
    delegation_ttl_s: int = Field(default=300, ge=10, le=3600)
    timer_rearm_grace_s: float = Field(
        default=DEFAULT_GRACE_S, ge=1, description="a durable timer held this long past due is published again"
    )
    timer_sweep_interval_s: float = Field(default=DEFAULT_INTERVAL_S, gt=0, description="how often to look for one")


def outgoing_of(at: Callable[[Any, int], Any], sign: Sign) -> Callable[[Any], Sequence[Outgoing]]:
    """What the relay publishes for one stored event of any of the orchestrator's aggregates."""

    def outgoing(domain_event: Any) -> Sequence[Outgoing]:
        # One notification log holds every aggregate's events; the event class says whose.
        if type(domain_event).__qualname__.startswith(f"{Monitor.__name__}."):
            return translate_monitor(domain_event, at)
        if type(domain_event).__qualname__.startswith(f"{Question.__name__}."):
            return translate_question(domain_event, at, sign)
        if type(domain_event).__qualname__.startswith(f"{AgentComponent.__name__}."):
            return translate_agents(domain_event)
        if type(domain_event).__qualname__ == f"{Rollout.__name__}.CostSettled":
            return ()  # a run's recorded cost publishes nothing, and reading the rollout at it is not free
        if type(domain_event).__qualname__.startswith(f"{Rollout.__name__}."):
            return translate_rollout(domain_event, at)
        if type(domain_event).__qualname__.startswith(f"{RolloutBoard.__name__}."):
            return ()  # the board is an index: its rollouts' own events say what happened
        return translate(domain_event, at, sign)

    return outgoing


def build(settings: RuntimeSettings) -> Service:
    s = settings if isinstance(settings, OrchestratorSettings) else OrchestratorSettings()
    app = Orchestrator(env=eventstore_env(settings, NAME))
    app.environment = settings.environment  # only development accepts agent versions with faults
    bus = Bus.from_settings(settings, NAME)
    key = SigningKey.load_or_create(s.delegation_key_file or settings.service_dir(NAME) / "delegation_ed25519.pem")
    keys = KeyDirectory(
        lambda: bus.broker.connection, replicas=settings.stream_replicas, max_bytes=settings.kv_max_bytes
    )

    def sign(run: Run | Question, tool: str) -> str | None:
        # Narrowed to the one tool of this request, and never wider than the user's roles.
        scopes = scopes_for(run.roles) & {f"tool:{tool}"}
        return key.issue(
            agent=AGENT,
            user_id=run.user_id,
            tenant_id=run.tenant_id,
            run_id=run.run_id,
            scopes=scopes,
            ttl_s=s.delegation_ttl_s,
        )

    run_at = aggregate_at(app)
    outgoing = outgoing_of(run_at, sign)

    async def publish_key() -> None:
        """Make the public key known before the first token reaches the policy service."""
        while True:
            try:
                await keys.publish(key)
                log.info("published delegation key %s", key.kid)
                return
            except Exception:  # noqa: BLE001 - the bus may still be connecting; try again
                await asyncio.sleep(1.0)

    relay = OutboxRelay(app, bus, outgoing, relayed=RunMeters(run_at))
    group = app.group_commit(on_saved=relay.wake)
    for sub in subscriptions(app):
        bus.subscribe(sub)
    # The only service that schedules timers re-arms those JetStream fails to fire (a full store).
    timers = TimerSweep(bus, grace_s=s.timer_rearm_grace_s, interval_s=s.timer_sweep_interval_s)
    return Service(
        NAME,
        bus,
        background=[publish_key, relay.run, group.run, timers.run, serve_agents(bus, app), serve_rollouts(bus, app)],
        on_stop=[app.close],
        # The event store answers (a notification-log read); a store away past the grace fails liveness.
        checks={"store": store_check(app.recorder.max_notification_id)},
    )
