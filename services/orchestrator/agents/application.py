"""The agent-version use cases: register a configuration of a component, list what is registered."""

from __future__ import annotations

from datetime import datetime
from typing import get_args

from eventsourcing.application import AggregateNotFoundError

from contracts.agents import (
    AgentConfig,
    AgentVersionInfo,
    Component,
    FaultNotAllowed,
    RegisterAgentRequest,
    agent_version,
    ensure_allowed_in,
)
from quarry_runtime.eventsourced import EventSourcedApplication
from services.orchestrator.agents.domain import AgentComponent, AgentError, component_id

COMPONENTS: tuple[str, ...] = get_args(Component)


class AgentUseCases(EventSourcedApplication):
    """Use cases of agent versions, on the store, clock and group commit of the orchestrator."""

    # QUARRY_ENVIRONMENT, set by the composition root: only development accepts injected faults.
    # Production by default, so an application built without it refuses them.
    environment: str = "production"

    def register_agent_version(self, request: RegisterAgentRequest) -> tuple[str, bool]:
        """The version naming `request.config`, and whether this registration recorded it."""
        if request.component not in COMPONENTS:
            raise AgentError(f"no component {request.component!r}; one of {', '.join(COMPONENTS)}")
        try:
            ensure_allowed_in(self.environment, request.config)
        except FaultNotAllowed as exc:
            raise AgentError(str(exc)) from exc
        version = agent_version(request.component, request.config)
        component = self._component(request.component) or AgentComponent.open(request.component)
        created = component.register(
            version,
            request.config.model_dump(mode="json", exclude_defaults=True),
            request.note,
            at=self.clock(),
            tenant_id=request.tenant_id,
            user_id=request.actor.user_id,
        )
        if created:
            self._save(component)
        return version, created

    def agent_versions(self, component: str | None = None) -> list[AgentVersionInfo]:
        """Every registered version, per component in the order of COMPONENTS, oldest first."""
        found: list[AgentVersionInfo] = []
        for name in COMPONENTS if component is None else (component,):
            held = self._component(name)
            for version, record in (held.versions if held is not None else {}).items():
                found.append(
                    AgentVersionInfo.model_validate(
                        {
                            "component": name,
                            "version": version,
                            "config": AgentConfig.model_validate(record["config"]),
                            "note": record["note"],
                            "registered_at": datetime.fromisoformat(record["registered_at"]),
                            "registered_by": record["registered_by"],
                        }
                    )
                )
        return found

    def _component(self, component: str) -> AgentComponent | None:
        try:
            held: AgentComponent = self._load(AgentComponent.create_id(component_id(component)))
        except AggregateNotFoundError:
            return None
        return held
