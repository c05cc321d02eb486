"""The agent-version use cases: register a configuration of a component, store its offline
evaluation, list what is registered, and say which version each component of a run takes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, get_args

from contracts.agents import (
    AgentConfig,
    AgentVersionEvaluatedPayload,
    AgentVersionInfo,
    Component,
    FaultNotAllowed,
    RecordEvaluationRequest,
    RegisterAgentRequest,
    agent_version,
    ensure_allowed_in,
    eval_failures,
)
from quarry_runtime.eventsourced import EventSourcedApplication
from services.orchestrator.agents.assignments import Assigned, AssignmentTable
from services.orchestrator.agents.domain import AgentComponent, AgentError, component_id

COMPONENTS: tuple[str, ...] = get_args(Component)
# How long an admission may use the table of stable versions and rollouts before reading it again.
# A change made by this replica clears it at once; one made by another replica is seen within this.
ASSIGNMENTS_TTL_S = 1.0


class AgentUseCases(EventSourcedApplication):
    """Use cases of agent versions, on the store, clock and group commit of the orchestrator."""

    # QUARRY_ENVIRONMENT, set by the composition root: only development accepts injected faults.
    # Production by default, so an application built without it refuses them.
    environment: str = "production"
    _assignments: AssignmentTable | None = None
    _assignments_read_at = 0.0

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

    def record_evaluation(self, request: RecordEvaluationRequest) -> AgentVersionEvaluatedPayload:
        """Store a version's offline evaluation, judged by the eval gate against the stable
        version's own stored evaluation (contracts.agents.eval_failures)."""
        component = self._component(request.component)
        if component is None or not component.has(request.version):
            raise LookupError(f"{request.component} has no version {request.version}")
        stable = component.evaluations.get(component.stable or "") if component.stable != request.version else None
        failures = eval_failures(request.metrics, None if stable is None else stable["metrics"])
        if failures and stable is None and component.stable not in (None, request.version):
            # Judged against the targets alone: the stable version's own figures would be the floor.
            failures.append(f"the stable version {component.stable} has no evaluation to judge against yet")
        evaluation = AgentVersionEvaluatedPayload(
            component=request.component,
            version=request.version,
            split=request.split,
            passed=not failures,
            metrics=request.metrics,
            failures=failures,
        )
        component.record_evaluation(
            request.version,
            evaluation.model_dump(mode="json"),
            at=self.clock(),
            tenant_id=request.tenant_id,
            user_id=request.actor.user_id,
        )
        self._save(component)
        return evaluation

    def make_stable(self, component: str, version: str, rollout_id: str, tenant_id: str) -> None:
        """`version` of `component` is what runs take from now on (its rollout reached 100%)."""
        held = self._component(component)
        if held is None:
            raise AgentError(f"no version of {component} is registered")
        held.make_stable(version, rollout_id=rollout_id, at=self.clock(), tenant_id=tenant_id)
        self._save(held)

    def agent_versions(self, component: str | None = None, version: str | None = None) -> list[AgentVersionInfo]:
        """Every registered version (or only `version`), per component in the order of
        COMPONENTS, oldest first."""
        found: list[AgentVersionInfo] = []
        for name in COMPONENTS if component is None else (component,):
            held = self._component(name)
            if held is None:
                continue
            for key, record in held.versions.items():
                if version is None or key == version:
                    found.append(_info(held, key, record))
        return found

    # -- assignment at admission ---------------------------------------------------------------

    def assign_agents(self, tenant_id: str, tier: str, run_id: str = "") -> Assigned:
        """The version of each component a run of `tenant_id` (on plan `tier`) takes now, and
        which shadowing rollouts sample run `run_id`."""
        now = time.monotonic()
        if self._assignments is None or now - self._assignments_read_at > ASSIGNMENTS_TTL_S:
            self._assignments = self.assignment_table()
            self._assignments_read_at = now
        return self._assignments.assign(tenant_id, tier, run_id)

    def assignment_table(self) -> AssignmentTable:
        """The stable version of every component that has one (the rollouts extend it)."""
        stable: dict[str, str] = {}
        for name in COMPONENTS:
            held = self._component(name)
            if held is not None and held.stable is not None:
                stable[name] = held.stable
        return AssignmentTable(stable)

    def committed(self, aggregates: Sequence[Any]) -> None:
        if any(isinstance(a, AgentComponent) for a in aggregates):
            self._assignments = None  # a new stable version: the next admission reads it
        super().committed(aggregates)

    def _component(self, component: str) -> AgentComponent | None:
        held: AgentComponent | None = self._load_or_none(AgentComponent.create_id(component_id(component)))
        return held


def _info(held: AgentComponent, version: str, record: dict[str, Any]) -> AgentVersionInfo:
    evaluation = held.evaluations.get(version)
    return AgentVersionInfo(
        component=held.component,
        version=version,
        config=AgentConfig.model_validate(record["config"]),
        note=record["note"],
        registered_at=datetime.fromisoformat(record["registered_at"]),
        registered_by=record["registered_by"],
        stable=version == held.stable,
        evaluation=None if evaluation is None else AgentVersionEvaluatedPayload.model_validate(evaluation),
    )
