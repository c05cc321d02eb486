"""Agent versions are a documented content hash; rollout specs and events keep the contract rules."""

from __future__ import annotations

import hashlib
import json

import pytest
from pydantic import ValidationError

from contracts import agents, rollouts, subjects
from contracts.agents import AgentConfig, FaultNotAllowed, InjectedFault, agent_version, ensure_allowed_in
from contracts.envelope import Event
from contracts.rollouts import Guards, RolloutSpec
from services.orchestrator.rollouts.guards import default_limits
from services.orchestrator.rollouts.records import audience_of, rules_of

LLM_PLANNER = AgentConfig(
    mode="llm",
    model="gpt-4o-mini",
    prompts={"plan": "Plan: {question}"},
    parameters={"temperature": 0.2, "max_sub_questions": 4},
)


def test_a_version_is_the_sha256_of_the_canonical_json_of_component_and_config() -> None:
    by_hand = hashlib.sha256(b'{"component":"planner","config":{"mode":"offline"}}').hexdigest()
    assert agent_version("planner", AgentConfig(mode="offline")) == by_hand
    # Golden vectors: a registered version must keep its name for good.
    assert by_hand == "6f040c55ba600f36606b28a3c5b774dabd188d046c23d14efaceb5ea88fa8af3"
    assert agent_version("planner", LLM_PLANNER) == "2f9baabbd7b8226deea2c8720f322867f9697b849c370f8c7adb61f4a70b12df"


def test_the_same_settings_name_the_same_version_and_any_change_a_new_one() -> None:
    dumped = LLM_PLANNER.model_dump(mode="json")
    dumped["parameters"] = dict(reversed(dumped["parameters"].items()))
    reordered = AgentConfig.model_validate(dict(reversed(dumped.items())))
    assert list(reordered.parameters) != list(LLM_PLANNER.parameters)
    assert agent_version("planner", reordered) == agent_version("planner", LLM_PLANNER)
    spelled_out = AgentConfig(mode="offline", model=None, prompts={}, parameters={}, fault=None)
    assert agent_version("planner", spelled_out) == agent_version("planner", AgentConfig(mode="offline"))
    edited = LLM_PLANNER.model_copy(update={"prompts": {"plan": "Plan carefully: {question}"}})
    assert agent_version("planner", edited) != agent_version("planner", LLM_PLANNER)
    assert agent_version("answerer", LLM_PLANNER) != agent_version("planner", LLM_PLANNER)


def test_a_configuration_with_faults_is_refused_outside_development() -> None:
    faulty = AgentConfig(mode="offline", fault=InjectedFault(fail_rate=1.0, extra_latency_ms=250))
    ensure_allowed_in("development", faulty)
    for environment in ("production", "test"):
        with pytest.raises(FaultNotAllowed):
            ensure_allowed_in(environment, faulty)
    ensure_allowed_in("production", AgentConfig(mode="offline"))
    with pytest.raises(ValidationError):
        InjectedFault(fail_rate=1.5)


def test_stages_rise_strictly_to_all_tenants() -> None:
    candidate = "c" * 64
    assert RolloutSpec(component="ranker", candidate=candidate).stages == [5, 25, 50, 100]
    for stages in ([5, 5, 100], [50, 25, 100], [5, 25, 50]):
        with pytest.raises(ValidationError):
            RolloutSpec(component="ranker", candidate=candidate, stages=stages)
    with pytest.raises(ValidationError):
        RolloutSpec(component="ranker", candidate="not-a-version")


def test_the_domain_reads_a_spec_as_the_contract_writes_it() -> None:
    default = RolloutSpec(component="planner", candidate="c" * 64).model_dump(mode="json")
    rules = rules_of(default, shadowing=False)
    assert rules.guards.limits == default_limits()  # the contract's defaults are the domain's
    # The e2e rollouts loosen alpha to decide sooner; the default is this one.
    assert rules.guards.alpha == Guards().alpha == 0.05 and rules.guards.cost_ceiling == Guards().cost_ceiling
    assert (rules.min_runs, rules.min_tenants, rules.min_dwell_s) == (50, 3, 600)
    assert audience_of(default).excluded_tiers == frozenset({"enterprise"})
    custom = RolloutSpec.model_validate(
        {
            "component": "planner",
            "candidate": "c" * 64,
            "min_runs_per_stage": 80,
            "guards": {"error_rate": {"ratio": 1.5, "slack": 0.0}, "alpha": 0.01, "cost_ceiling": 40},
            "shadow": {"sample_rate": 0.1, "min_runs": 20},
            "audience": {"pinned": {"t1": "candidate"}, "excluded_tiers": []},
        }
    ).model_dump(mode="json")
    assert rules_of(custom, shadowing=True).min_runs == 20 and rules_of(custom, shadowing=False).min_runs == 80
    guards = rules_of(custom, shadowing=False).guards
    assert guards.limits["error_rate"].ratio == 1.5 and guards.alpha == 0.01 and guards.cost_ceiling == 40
    assert audience_of(custom).pinned == {"t1": "candidate"} and not audience_of(custom).excluded_tiers


EVENTS = [
    cls
    for module in (agents, rollouts)
    for cls in vars(module).values()
    if isinstance(cls, type) and issubclass(cls, Event) and cls.TYPE
]


def test_each_event_has_its_own_type_and_a_versioned_subject_from_the_subjects_module() -> None:
    assert len(EVENTS) == 10 and len({cls.TYPE for cls in EVENTS}) == len(EVENTS)
    named = {value for name, value in vars(subjects).items() if name.isupper() and isinstance(value, str)}
    for cls in EVENTS:
        domain, version, _name = cls.SUBJECT.split(".")
        assert cls.SUBJECT in named and version == "v1" and domain in {"agent", "rollout"}


def test_a_rollback_event_round_trips_and_tolerates_fields_from_newer_producers() -> None:
    payload = rollouts.RolledBackPayload.model_validate(
        {
            "rollout_id": "r1",
            "from_percent": 50,
            "guards": ["error_rate"],
            "evidence": {
                "percent": 50,
                "candidate": {"runs": 31, "tenants": 30, "runs_in_stage": 31, "tenants_in_stage": 30},
                "stable": {"runs": 29, "tenants": 29, "runs_in_stage": 29, "tenants_in_stage": 29},
                "guards": [
                    {
                        "guard": "error_rate",
                        "stable": {"estimate": 0.0, "lower": 0.0, "upper": 0.3},
                        "candidate": {"estimate": 1.0, "lower": 0.7, "upper": 1.0},
                        "verdict": "harm",
                    }
                ],
            },
        }
    )
    event = rollouts.RolledBack.create(payload, tenant_id="platform")
    data = json.loads(event.to_bytes())
    data["payload"]["evidence"]["added_later"] = 1
    again = rollouts.RolledBack.model_validate_json(json.dumps(data))
    assert again == event and again.SUBJECT == subjects.ROLLOUT_ROLLED_BACK
