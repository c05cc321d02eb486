"""The tool registry: its validation, the input schemas, and what the orchestrator really sends."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.tool import ToolRequested, ToolRequestedPayload
from quarry_security.delegation import TOOL_SCOPES
from services.orchestrator.tasks import POLICIES
from services.policy.domain.engine import PolicyEngine, PolicyError
from services.policy.domain.registry import DEFAULT_REGISTRY, RegistryError, TimeBox, load_registry, parse_registry

NOON = 12 * 3600.0
REGISTRY = load_registry()


def shipped() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_REGISTRY.read_text())
    return data


def registry_text(data: dict[str, Any]) -> str:
    text: str = yaml.safe_dump(data, sort_keys=False)
    return text


def engine_with(tmp_path: Path, data: dict[str, Any]) -> PolicyEngine:
    path = tmp_path / "registry.yaml"
    path.write_text(registry_text(data))
    return PolicyEngine.load(registry=path, clock=lambda: NOON)


def test_the_shipped_registry_declares_every_tool_the_agents_use() -> None:
    registry = load_registry()
    # The tools a delegated token can be scoped to: each must be declared, and nothing else is.
    assert set(registry) == {scope.removeprefix("tool:") for scope in TOOL_SCOPES}
    for spec in registry.values():
        assert re.fullmatch(r"\d+\.\d+\.\d+", spec.version)
        assert spec.tiers <= registry.plans and spec.roles <= registry.roles
        assert spec.rate_limit.calls > 0 and spec.cost.credits >= 0 and spec.enabled
    assert registry["fetch_url"].time_box == TimeBox(6, 22)
    assert "docs.python.org" in registry["fetch_url"].allowed_domains
    assert registry["read_dataset"].approval_plans == {"pro"}
    assert {n for n, s in registry.items() if not s.essential} == {"fetch_url", "read_dataset"}


def test_every_tool_request_of_a_whole_run_fits_its_tool_and_is_allowed() -> None:
    """The arguments exactly as the orchestrator sends them: a run driven through its DAG, its
    stored events translated to the `tool.v1.requested` events it publishes."""
    from services.orchestrator.application import Orchestrator
    from services.orchestrator.runs.translate import translate
    from tests.support.orchestrator import POPO, started, work

    app = Orchestrator(env=POPO)
    # Every source, on the plan whose tools include them all (read_dataset, fetch_url).
    run_id = started(app, sources=["corpus", "datasets", "web"], plan="enterprise")
    work(app, run_id)
    assert app.get_run(run_id).state == "completed"
    notifications = app.recorder.select_notifications(start=1, limit=1000)
    requests = [
        o.event
        for n in notifications
        for o in translate(app.mapper.to_domain_event(n), lambda i, v: app.repository.get(i, version=v))
        if isinstance(o.event, ToolRequested)
    ]
    engine = PolicyEngine.load(clock=lambda: NOON)

    assert {r.payload.tool for r in requests} == {POLICIES[k].tool for k in POLICIES}
    for ev in requests:
        assert REGISTRY[ev.payload.tool].argument_errors(ev.payload.arguments) == [], ev.payload
        verdict = engine.decide(
            ev.payload, tenant_id=ev.tenant_id, agent=ev.actor.agent or "", user_id=ev.actor.user_id
        )
        assert verdict.decision == "allow", (ev.payload.step, verdict.reasons)


def test_argument_errors_name_the_argument_and_the_rule() -> None:
    spec = load_registry()["web_search"]

    assert spec.argument_errors({"question": "q", "limit": 3}) == []
    assert spec.argument_errors({"question": 3, "limit": 0}) == [
        "limit: 0 is less than the minimum of 1",
        "question: 3 is not of type 'string'",
    ]
    assert spec.argument_errors({}) == ["(arguments): 'question' is a required property"]


_VALUES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "ok", "Bad Name", "https://x.org/a", "file:///etc", "public", "redact"]),
    st.integers(min_value=-5, max_value=20_000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1.0, 8.0, 2.5]),
    st.booleans(),
    st.none(),
)


@settings(max_examples=300, deadline=None)
@given(
    tool=st.sampled_from(sorted(REGISTRY)),
    arguments=st.dictionaries(
        st.sampled_from(
            [
                "question",
                "sub_question",
                "limit",
                "url",
                "dataset",
                "query",
                "run_id",
                "depth",
                "max_sources",
                "pii_policy",
                "visibility",
                "tenant",
                "extra",
            ]
        ),
        _VALUES,
        max_size=6,
    ),
)
def test_the_tuned_validator_reports_what_stock_jsonschema_reports(tool: str, arguments: dict[str, Any]) -> None:
    import jsonschema  # type: ignore[import-untyped]

    spec = REGISTRY[tool]
    stock = jsonschema.Draft202012Validator(spec.input_schema)

    def errors(validator: Any) -> list[tuple[Any, ...]]:
        return sorted((list(e.path), e.message, list(e.schema_path)) for e in validator.iter_errors(arguments))

    assert errors(spec._validator) == errors(stock)
    assert spec._validator.is_valid(arguments) == stock.is_valid(arguments)


def test_time_box_windows_including_one_across_midnight() -> None:
    day, night = TimeBox(6, 22), TimeBox(22, 6)

    assert [h for h in range(24) if day.contains(h)] == list(range(6, 22))
    assert [h for h in range(24) if night.contains(h)] == [0, 1, 2, 3, 4, 5, 22, 23]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["tools"]["web_search"].pop("rate_limit"),
            r"tools\.web_search: 'rate_limit' is a required property",
        ),
        (lambda d: d["tools"]["web_search"].update(tiers=["gold"]), r"tools\.web_search\.tiers: unknown \['gold'\]"),
        (lambda d: d["tools"]["web_search"].update(roles=["root"]), r"tools\.web_search\.roles: unknown \['root'\]"),
        (
            lambda d: d["tools"]["fetch_url"].update(time_boxed={"start_hour": 6, "end_hour": 6}),
            r"tools\.fetch_url\.time_boxed: start_hour and end_hour are the same hour",
        ),
        (
            lambda d: d["tools"]["web_search"]["input_schema"].update(type="strng"),
            r"tools\.web_search\.input_schema: not a JSON Schema",
        ),
        (
            lambda d: d["tools"]["web_search"].update(input_schema={"type": "string"}),
            r"input_schema: must describe an object",
        ),
        (
            lambda d: d["tools"]["web_search"].update(rate_limit={"calls": 0, "per_s": 60}),
            r"less than the minimum of 1",
        ),
        (lambda d: d["tools"].update({"Web Search": d["tools"]["web_search"]}), r"does not match"),
        (lambda d: d["tools"]["web_search"].update(colour="red"), r"Additional properties are not allowed"),
        (lambda d: d.update(format=2), r"format: 1 was expected"),
    ],
)
def test_an_invalid_registry_is_refused_saying_why(change: Any, message: str) -> None:
    data = shipped()
    change(data)

    with pytest.raises(RegistryError, match=message):
        parse_registry(registry_text(data))


def test_unparsable_yaml_is_refused() -> None:
    with pytest.raises(RegistryError, match="not YAML"):
        parse_registry("tools: [unclosed")


def test_an_invalid_registry_stops_the_engine_from_loading(tmp_path: Path) -> None:
    data = shipped()
    data["tools"]["llm_generate"]["tiers"] = ["platinum"]
    path = tmp_path / "registry.yaml"
    path.write_text(registry_text(data))

    with pytest.raises(PolicyError, match=r"(?s)registry\.yaml: invalid registry:.*platinum"):
        PolicyEngine.load(registry=path)


def test_a_disabled_tool_is_denied_before_any_policy(tmp_path: Path) -> None:
    data = shipped()
    data["tools"]["web_search"]["enabled"] = False
    engine = engine_with(tmp_path, data)
    request = ToolRequestedPayload(request_id="r", tool="web_search", task_id="t", step="s", roles=["owner"])

    verdict = engine.decide(
        request.model_copy(update={"arguments": {"question": "q"}}), tenant_id="a", agent="x", user_id=None
    )

    assert (verdict.decision, verdict.reasons, verdict.policy_ids) == ("deny", ["disabled tool: web_search"], [])


def test_a_deprecated_tool_is_still_allowed_and_the_decision_says_so(tmp_path: Path) -> None:
    data = shipped()
    data["tools"]["web_search"]["deprecated"] = "use web_search v2 (registry 2.0.0) from July"
    engine = engine_with(tmp_path, data)
    request = ToolRequestedPayload(
        request_id="r", tool="web_search", task_id="t", step="s", roles=["owner"], arguments={"question": "q"}
    )

    verdict = engine.decide(request, tenant_id="a", agent="x", user_id=None)

    assert verdict.decision == "allow"
    assert verdict.reasons == [
        "permitted by plan-tier-access",
        "deprecated: use web_search v2 (registry 2.0.0) from July",
    ]


def test_the_registry_is_part_of_the_version(tmp_path: Path) -> None:
    data = shipped()
    data["tools"]["web_search"]["rate_limit"]["calls"] = 7

    assert engine_with(tmp_path, data).version != PolicyEngine.load().version
