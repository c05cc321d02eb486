"""The policy engine decides tool requests with the Cedar policies shipped in services/policy/policies."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from contracts.tool import ToolDecidedPayload, ToolRequestedPayload
from services.policy.domain.engine import DEFAULT_POLICY_DIR, UNREGISTERED_TOOL, PolicyEngine, PolicyError
from services.policy.domain.registry import DEFAULT_REGISTRY, load_registry
from services.policy.translate import decided_payload

NOON_UTC = 12 * 3600.0  # inside every time box the shipped registry declares
# Arguments each tool's input schema accepts, as the orchestrator would send them.
ARGUMENTS: dict[str, dict[str, str | int]] = {
    "web_search": {"question": "What is X?", "sub_question": "What is X?", "limit": 8},
    "llm_generate": {"question": "What is X?", "depth": 1},
    "publish_report": {"run_id": "run-1", "pii_policy": "redact"},
    "index_memory": {"run_id": "run-1", "question": "What is X?"},
    "fetch_url": {"url": "https://docs.python.org/3/library/contextlib.html"},
    "read_dataset": {"dataset": "sales_2025"},
    "recall_memory": {"question": "What is X?", "run_id": "run-1", "limit": 6},
    "answer_question": {"question_id": "q-1", "question": "What is X?"},
}


def noon() -> float:
    return NOON_UTC


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.load(clock=noon)


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, target)
    return target


def request(tool: str, *, plan: str = "free", **arguments: str | int) -> ToolRequestedPayload:
    return ToolRequestedPayload(
        request_id="req-1",
        tool=tool,
        task_id="task-1",
        step="gather",
        plan=plan,
        roles=["member"],
        arguments={**ARGUMENTS.get(tool, {}), **arguments},
    )


@pytest.mark.parametrize("tool", ["web_search", "llm_generate", "publish_report", "index_memory"])
def test_free_tier_tool_is_allowed_on_free_plan(engine: PolicyEngine, tool: str) -> None:
    verdict = engine.decide(request(tool), tenant_id="acme", agent="retriever", user_id="user-1")

    assert verdict.decision == "allow"
    assert verdict.policy_ids == ["plan-tier-access"]
    assert verdict.reasons == ["permitted by plan-tier-access"]
    assert verdict.version == engine.version
    assert verdict.evaluation_ms > 0


def test_free_tier_tool_is_allowed_without_a_user(engine: PolicyEngine) -> None:
    verdict = engine.decide(request("web_search"), tenant_id="acme", agent="orchestrator", user_id=None)

    assert verdict.decision == "allow"


@pytest.mark.parametrize("tool", ["fetch_url", "read_dataset"])
def test_pro_tool_is_denied_by_default_on_free_plan(engine: PolicyEngine, tool: str) -> None:
    verdict = engine.decide(request(tool, plan="free"), tenant_id="acme", agent="retriever", user_id="u")

    assert verdict.decision == "deny"
    assert verdict.policy_ids == []
    assert len(verdict.reasons) == 1
    assert "no policy permits" in verdict.reasons[0]
    assert tool in verdict.reasons[0]
    assert verdict.reasons[0].endswith("denied by default")


@pytest.mark.parametrize("plan", ["pro", "enterprise"])
def test_pro_tool_is_allowed_on_pro_and_enterprise_plans(engine: PolicyEngine, plan: str) -> None:
    verdict = engine.decide(request("fetch_url", plan=plan), tenant_id="acme", agent="retriever", user_id="u")

    assert verdict.decision == "allow"
    assert verdict.policy_ids == ["plan-tier-access"]
    assert verdict.reasons == ["permitted by plan-tier-access"]


def test_cross_tenant_call_is_forbidden_by_tenant_isolation(engine: PolicyEngine) -> None:
    # A tool that would otherwise be permitted, aimed at another tenant's resources.
    req = request("read_dataset", plan="enterprise", tenant="globex")

    verdict = engine.decide(req, tenant_id="acme", agent="analyst", user_id="user-1")

    assert verdict.decision == "deny"
    assert verdict.policy_ids == ["tenant-isolation"]
    assert verdict.reasons == ["forbidden by tenant-isolation"]


def test_same_tenant_named_explicitly_is_allowed(engine: PolicyEngine) -> None:
    req = request("read_dataset", plan="enterprise", tenant="acme")

    assert engine.decide(req, tenant_id="acme", agent="analyst", user_id="user-1").decision == "allow"


SHELL_EXEC = """
  shell_exec:
    version: "0.1.0"
    tiers: [free, pro, enterprise]
    roles: [owner, admin, member]
    essential: false
    rate_limit: {calls: 10, per_s: 60}
    cost: {unit: call, credits: 1}
    input_schema: {type: object}
"""


def test_deny_listed_tool_is_forbidden_even_when_registered_as_free(tmp_path: Path) -> None:
    registry = tmp_path / "registry.yaml"
    registry.write_text(DEFAULT_REGISTRY.read_text() + SHELL_EXEC)
    engine = PolicyEngine.load(registry=registry, clock=noon)

    verdict = engine.decide(request("shell_exec", plan="enterprise"), tenant_id="acme", agent="a", user_id=None)

    assert verdict.decision == "deny"
    assert verdict.policy_ids == ["deny-listed-tools"]
    assert verdict.reasons == ["forbidden by deny-listed-tools"]


@pytest.mark.parametrize("tool", ["shell_exec", "no_such_tool"])
def test_unregistered_tool_is_denied_without_consulting_policies(engine: PolicyEngine, tool: str) -> None:
    verdict = engine.decide(request(tool, plan="enterprise"), tenant_id="acme", agent="a", user_id="u")

    assert verdict.decision == "deny"
    assert verdict.reasons == [UNREGISTERED_TOOL] == ["unregistered tool"]
    assert verdict.policy_ids == []
    assert verdict.version == engine.version


def test_every_registered_tool_has_a_known_tier() -> None:
    registry = load_registry()
    assert set(registry) == set(ARGUMENTS)
    assert all(spec.tiers <= registry.plans for spec in registry.values())
    assert all(name == spec.name for name, spec in registry.items())


def test_verdict_becomes_a_tool_decided_payload(engine: PolicyEngine) -> None:
    req = request("web_search")
    verdict = engine.decide(req, tenant_id="acme", agent="retriever", user_id="user-1")

    payload = decided_payload(verdict, req)

    assert isinstance(payload, ToolDecidedPayload)
    assert (payload.request_id, payload.task_id, payload.tool) == ("req-1", "task-1", "web_search")
    assert payload.decision == "allow"
    assert payload.policy_ids == ["plan-tier-access"]
    assert payload.policy_version == engine.version
    assert payload.evaluation_ms == verdict.evaluation_ms


def test_version_is_stable_across_loads(policy_dir: Path) -> None:
    first = PolicyEngine.load(policy_dir).version

    assert PolicyEngine.load(policy_dir).version == first
    assert PolicyEngine.load(DEFAULT_POLICY_DIR).version == first
    assert len(first) == 12
    int(first, 16)


def test_version_changes_when_a_policy_file_changes(policy_dir: Path) -> None:
    before = PolicyEngine.load(policy_dir).version
    tiers = policy_dir / "tiers.cedar"
    tiers.write_text(tiers.read_text() + "\n// reviewed\n")

    assert PolicyEngine.load(policy_dir).version != before


def test_version_changes_when_the_schema_changes(policy_dir: Path) -> None:
    before = PolicyEngine.load(policy_dir).version
    schema = policy_dir / "schema.cedarschema.json"
    schema.write_text(schema.read_text() + "\n")

    assert PolicyEngine.load(policy_dir).version != before


def test_a_changed_policy_changes_decisions(policy_dir: Path) -> None:
    (policy_dir / "extra.cedar").write_text(
        '@id("fetch-for-everyone")\n'
        'permit (principal, action == Quarry::Action::"invoke_tool",\n'
        '        resource == Quarry::Tool::"fetch_url");\n'
    )

    verdict = PolicyEngine.load(policy_dir, clock=noon).decide(
        request("fetch_url", plan="free"), tenant_id="acme", agent="a", user_id=None
    )

    assert verdict.decision == "allow"
    assert verdict.policy_ids == ["fetch-for-everyone"]


# A file that breaks loading, its text, and what the error says (naming the file).
BROKEN_FILES = {
    "syntax error": (
        "broken.cedar",
        '@id("broken")\npermit (principal, action resource);\n',
        r"broken\.cedar: .*unexpected token",
    ),
    "schema violation, with cedar's message": (
        "typo.cedar",
        '@id("typo")\n'
        'permit (principal, action == Quarry::Action::"invoke_tool", resource)\n'
        'when { resource.teir == "free" };\n',
        r"typo\.cedar: \[typo\] .*attribute `teir`",
    ),
    "unknown action": (
        "action.cedar",
        '@id("delete")\npermit (principal, action == Quarry::Action::"delete_tenant", resource);\n',
        "delete_tenant",
    ),
    "policy without id": (
        "anon.cedar",
        'forbid (principal, action == Quarry::Action::"invoke_tool", resource);\n',
        r"anon\.cedar: a forbid policy has no @id",
    ),
    "duplicate id": (
        "zz_dup.cedar",
        '@id("tenant-isolation")\nforbid (principal, action == Quarry::Action::"invoke_tool", resource);\n',
        r"zz_dup\.cedar: @id 'tenant-isolation' already used in guards\.cedar",
    ),
    "invalid schema": ("schema.cedarschema.json", "{not json", r"schema\.cedarschema\.json"),
}


@pytest.mark.parametrize(("name", "text", "error"), BROKEN_FILES.values(), ids=BROKEN_FILES.keys())
def test_a_broken_file_fails_loading_with_the_file_named(policy_dir: Path, name: str, text: str, error: str) -> None:
    (policy_dir / name).write_text(text)

    with pytest.raises(PolicyError, match=error):
        PolicyEngine.load(policy_dir)


def test_missing_schema_or_policies_fails_loading(tmp_path: Path, policy_dir: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        PolicyEngine.load(tmp_path)
    for policy in policy_dir.glob("*.cedar"):
        policy.unlink()
    with pytest.raises(PolicyError, match=r"no \*\.cedar policy files"):
        PolicyEngine.load(policy_dir)


def test_evaluation_error_fails_closed(policy_dir: Path) -> None:
    # Passes validation but overflows at run time; Cedar would skip it and let the permit through.
    (policy_dir / "overflow.cedar").write_text(
        '@id("budget-guard")\n'
        'forbid (principal, action == Quarry::Action::"invoke_tool", resource)\n'
        "when { context.budget_remaining_pct * 9223372036854775807 < 0 };\n"
    )

    verdict = PolicyEngine.load(policy_dir).decide(request("web_search"), tenant_id="acme", agent="a", user_id=None)

    assert verdict.decision == "deny"
    assert verdict.policy_ids == []
    assert len(verdict.reasons) == 1
    assert verdict.reasons[0].startswith("evaluation error:")
    assert "`budget-guard`" in verdict.reasons[0]
