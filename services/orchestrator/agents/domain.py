"""The AgentComponent aggregate: every version registered for one component. Pure.

One aggregate per component (`planner`, `synthesiser`, `answerer`, `ranker`), with an id fixed
by the component's name, so every replica finds the same one. A version is a content hash
(contracts.agents.agent_version): registering a configuration again names the version it has
already, and changes nothing. Two replicas registering a new version at once race on the
aggregate's next version; the loser's save fails, it reloads and finds the version there.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from services.orchestrator.errors import OrchestratorError
from services.orchestrator.owned import id_from

# Fixed for good: the ids of stored components are made from it.
_COMPONENTS = uuid.UUID("6c1c4b7e-6a57-4d0c-9a43-5b8f0f0f1a16")


class AgentError(OrchestratorError):
    """A registration the control plane refuses (a fault outside development, an unknown component)."""


def component_id(component: str) -> str:
    """The id of the aggregate holding `component`'s versions."""
    return str(uuid.uuid5(_COMPONENTS, component))


class AgentComponent(Aggregate):
    create_id = id_from("component_id")

    # Version 2 of the snapshotted state has `stable` and `evaluations`.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.setdefault("stable", next(iter(state.get("versions") or {}), None))
        state.setdefault("evaluations", {})

    @classmethod
    def open(cls, component: str) -> AgentComponent:
        return cls(component_id=component_id(component), component=component)

    @event("ComponentOpened")
    def __init__(self, component_id: str, component: str) -> None:
        self.component_id = component_id
        self.component = component
        # version -> what was registered, in the order of registration.
        self.versions: dict[str, dict[str, Any]] = {}
        # The version runs take unless a rollout assigns another: the first one registered (there
        # is nothing to compare it with, as with a first deployment), then each rollout's
        # candidate that reaches 100%. None: no version yet, the workers' built-in settings.
        self.stable: str | None = None
        # version -> its latest offline evaluation (contracts.agents.AgentVersionEvaluatedPayload).
        self.evaluations: dict[str, dict[str, Any]] = {}

    def has(self, version: str) -> bool:
        return version in self.versions

    def register(
        self, version: str, config: dict[str, Any], note: str, at: datetime, tenant_id: str, user_id: str | None
    ) -> bool:
        """Record `version` unless it is known; whether it is new."""
        if self.has(version):
            return False
        self._registered(
            component=self.component,
            version=version,
            config=config,
            note=note,
            at=at,
            tenant_id=tenant_id,
            user_id=user_id,
        )
        return True

    # The stored event names its component, the registering operator's tenant and user too, so
    # the outbox publishes it from the event alone.
    @event("VersionRegistered")
    def _registered(
        self,
        component: str,
        version: str,
        config: dict[str, Any],
        note: str,
        at: datetime,
        tenant_id: str,
        user_id: str | None,
    ) -> None:
        self.versions[version] = {
            "config": dict(config),
            "note": note,
            "registered_at": at.isoformat(),
            "registered_by": user_id,
        }
        if self.stable is None:
            self.stable = version

    def make_stable(self, version: str, rollout_id: str, at: datetime, tenant_id: str) -> None:
        """`version` is what runs take from now on (its rollout reached 100%)."""
        if not self.has(version):
            raise AgentError(f"{self.component} has no version {version}")
        if version != self.stable:
            self._stable_changed(
                version=version, previous=self.stable, rollout_id=rollout_id, at=at, tenant_id=tenant_id
            )

    # Announced by the rollout's own completion (rollout.v1.stage_advanced at 100%): not published.
    @event("StableChanged")
    def _stable_changed(
        self, version: str, previous: str | None, rollout_id: str, at: datetime, tenant_id: str
    ) -> None:
        self.stable = version

    def record_evaluation(
        self, version: str, evaluation: dict[str, Any], at: datetime, tenant_id: str, user_id: str | None
    ) -> None:
        """Store `version`'s offline evaluation (contracts.agents.AgentVersionEvaluatedPayload as JSON)."""
        if not self.has(version):
            raise AgentError(f"{self.component} has no version {version}")
        self._evaluated(version=version, evaluation=evaluation, at=at, tenant_id=tenant_id, user_id=user_id)

    @event("Evaluated")
    def _evaluated(
        self, version: str, evaluation: dict[str, Any], at: datetime, tenant_id: str, user_id: str | None
    ) -> None:
        self.evaluations[version] = dict(evaluation)
