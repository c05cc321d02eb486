"""Agent versions kept by the orchestrator, at the use-case boundary on in-memory storage: a
configuration names one version however often it is registered, the list shows what was stored,
each new version is announced once, and faults are refused outside development."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from contracts.agents import (
    MAX_PROMPT_CHARS,
    AgentConfig,
    AgentVersionRegistered,
    InjectedFault,
    RegisterAgentRequest,
    agent_version,
)
from contracts.envelope import Actor
from services.orchestrator.agents.domain import AgentError
from services.orchestrator.agents.translate import translate_agents
from services.orchestrator.application import Orchestrator
from tests.support.orchestrator import T0, Clock

PLANNER = AgentConfig(mode="llm", model="small-1", prompts={"plan": "Split {question}."}, parameters={"k": 4})


def request(config: AgentConfig = PLANNER, component: Any = "planner", note: str = "") -> RegisterAgentRequest:
    return RegisterAgentRequest(
        component=component, config=config, note=note, tenant_id="t-ops", actor=Actor(user_id="u-admin")
    )


def stored_events(app: Orchestrator) -> list[Any]:
    """Every domain event the orchestrator stored, in the order the outbox reads them."""
    return [app.mapper.to_domain_event(n) for n in app.notification_log.select(start=1, limit=10)]


def test_the_same_configuration_is_one_version_however_often_it_is_registered(app: Orchestrator) -> None:
    first = app.register_agent_version(request(note="first"))
    again = app.register_agent_version(request(note="again, by mistake"))
    assert first == (agent_version("planner", PLANNER), True)
    assert again == (first[0], False)
    (listed,) = app.agent_versions("planner")
    assert (listed.version, listed.config, listed.note) == (first[0], PLANNER, "first")
    assert listed.registered_at == T0 and listed.registered_by == "u-admin"


def test_the_same_settings_for_two_components_are_two_versions(app: Orchestrator, clock: Clock) -> None:
    planner, _ = app.register_agent_version(request())
    clock.now = T0.replace(hour=9)
    ranker, _ = app.register_agent_version(request(component="ranker"))
    later = PLANNER.model_copy(update={"model": "small-2"})
    newer, created = app.register_agent_version(request(later))
    assert planner != ranker and created
    assert [v.version for v in app.agent_versions()] == [planner, newer, ranker]
    assert [v.version for v in app.agent_versions("planner")] == [planner, newer]
    assert app.agent_versions("answerer") == []


def test_each_new_version_is_announced_once_with_its_configuration(app: Orchestrator) -> None:
    version, _ = app.register_agent_version(request(note="why"))
    app.register_agent_version(request())
    stored = stored_events(app)
    published = [o.event for e in stored for o in translate_agents(e)]
    assert len(published) == 1
    (event,) = published
    assert isinstance(event, AgentVersionRegistered)
    assert (event.payload.version, event.payload.config, event.payload.note) == (version, PLANNER, "why")
    assert event.tenant_id == "t-ops" and event.actor.user_id == "u-admin"
    # Anyone holding the published configuration recomputes the version it names.
    assert agent_version(event.payload.component, event.payload.config) == version
    # The same stored event translated again gives the same event id: JetStream drops the copy.
    assert [o.event.event_id for e in stored for o in translate_agents(e)] == [event.event_id]


def test_a_configuration_with_faults_is_refused_outside_development(app: Orchestrator) -> None:
    faulty = PLANNER.model_copy(update={"fault": InjectedFault(fail_rate=1.0)})
    for environment in ("production", "test"):
        app.environment = environment
        with pytest.raises(AgentError, match="fault"):
            app.register_agent_version(request(faulty))
    assert app.agent_versions() == []
    app.environment = "development"
    version, created = app.register_agent_version(request(faulty))
    assert created and version != agent_version("planner", PLANNER)


def test_hostile_configurations_are_refused_before_they_reach_the_store() -> None:
    with pytest.raises(ValidationError):
        AgentConfig(mode="llm", prompts={"plan": "x" * (MAX_PROMPT_CHARS + 1)})
    with pytest.raises(ValidationError):
        AgentConfig(mode="llm", prompts={f"p{i}": "x" for i in range(21)})
    with pytest.raises(ValidationError):
        AgentConfig(mode="llm", parameters={f"k{i}": 1 for i in range(51)})
    with pytest.raises(ValidationError):
        AgentConfig(mode="llm", parameters={"bad name!": 1})
    with pytest.raises(ValidationError):
        AgentConfig(mode="llm", parameters={"k": 10**20})
    with pytest.raises(ValidationError):
        request(component="critic")
