"""Hard and soft sets: allow, deny, require_approval with the rule and its timeout; budget and clock."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from contracts.tool import ToolRequestedPayload
from services.policy.decision_table import DEFAULT_TABLE, TableError, load_cases, main, run_cases
from services.policy.domain.engine import DEFAULT_POLICY_DIR, PolicyEngine, PolicyError
from services.policy.domain.registry import DEFAULT_REGISTRY
from services.policy.translate import decided_payload, verdict_contract

NOON = 12 * 3600.0


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.load(clock=lambda: NOON)


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, target)
    return target


def ask(
    engine: PolicyEngine,
    tool: str,
    *,
    plan: str = "pro",
    roles: tuple[str, ...] = ("member",),
    budget: int = 100,
    hour: int | None = None,
    **arguments: Any,
) -> Any:
    request = ToolRequestedPayload(
        request_id="r", tool=tool, task_id="t", step="s", plan=plan, roles=list(roles), arguments=arguments
    )
    return engine.decide(
        request, tenant_id="acme", agent="retriever", user_id="u-1", budget_remaining_pct=budget, hour_utc=hour
    )


def test_a_soft_match_asks_for_approval_citing_the_rule_and_its_timeout(engine: PolicyEngine) -> None:
    verdict = ask(engine, "fetch_url", url="https://Unknown.Example.net/page")

    assert verdict.decision == "require_approval"
    assert verdict.policy_ids == ["fetch-unlisted-domain"]
    assert verdict.approval_rule_ids == ["egress-review"]
    assert verdict.approval_timeout_s == 3600
    assert verdict.reasons == ["approval required by fetch-unlisted-domain (rule egress-review, within 3600s)"]
    payload = decided_payload(
        verdict, ToolRequestedPayload(request_id="r", tool="fetch_url", task_id="t", step="s", plan="pro")
    )
    assert payload.decision == "require_approval" and payload.policy_ids == ["fetch-unlisted-domain"]
    assert verdict_contract(verdict).approval_timeout_s == 3600


def test_an_allow_listed_host_needs_no_approval_whatever_its_case(engine: PolicyEngine) -> None:
    assert ask(engine, "fetch_url", url="https://DOCS.python.org/3/").decision == "allow"


def test_several_soft_matches_ask_once_with_the_shortest_timeout(tmp_path: Path, policy_dir: Path) -> None:
    data = yaml.safe_load(DEFAULT_REGISTRY.read_text())
    data["tools"]["publish_report"]["approval"] = {"plans": ["free"]}
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump(data))
    (policy_dir / "soft" / "quick.cedar").write_text(
        '@id("quick-public")\n@rule_id("fast-track")\n@approval_timeout_s("600")\n'
        'forbid (principal, action == Quarry::Action::"invoke_tool", resource)\n'
        'when { context.arguments has visibility && context.arguments.visibility == "public" };\n'
    )
    engine = PolicyEngine.load(policy_dir, registry=registry, clock=lambda: NOON)

    verdict = ask(engine, "publish_report", plan="free", run_id="r", visibility="public")

    assert verdict.decision == "require_approval"
    assert verdict.policy_ids == ["public-report", "quick-public", "tool-approval-by-plan"]
    assert verdict.approval_rule_ids == ["fast-track", "plan-approval", "publication-review"]
    assert verdict.approval_timeout_s == 600


def test_a_hard_forbid_beats_a_soft_match(engine: PolicyEngine) -> None:
    verdict = ask(engine, "fetch_url", hour=3, url="https://unknown.example.net/")

    assert verdict.decision == "deny"
    assert verdict.policy_ids == ["outside-time-box"]
    assert verdict.approval_rule_ids == [] and verdict.approval_timeout_s is None


def test_a_soft_match_without_a_hard_permit_is_a_plain_deny(engine: PolicyEngine) -> None:
    verdict = ask(engine, "fetch_url", plan="free", url="https://unknown.example.net/")

    assert verdict.decision == "deny"
    assert verdict.policy_ids == []
    assert verdict.reasons[0].endswith("denied by default")


@pytest.mark.parametrize(("budget", "decision"), [(0, "deny"), (9, "deny"), (10, "allow"), (100, "allow")])
def test_budget_aware_deny_of_non_essential_tools(engine: PolicyEngine, budget: int, decision: str) -> None:
    fetch = ask(engine, "fetch_url", budget=budget, url="https://arxiv.org/abs/1")
    dataset = ask(engine, "read_dataset", plan="enterprise", budget=budget, dataset="sales")

    assert fetch.decision == dataset.decision == decision
    if decision == "deny":
        assert fetch.policy_ids == dataset.policy_ids == ["low-budget-non-essential"]


@pytest.mark.parametrize("tool", ["web_search", "llm_generate", "index_memory", "publish_report"])
def test_essential_tools_run_on_an_empty_budget(engine: PolicyEngine, tool: str) -> None:
    assert ask(engine, tool, plan="free", budget=0, question="q", run_id="r").decision == "allow"


@pytest.mark.parametrize(("hour", "decision"), [(0, "deny"), (5, "deny"), (6, "allow"), (21, "allow"), (22, "deny")])
def test_time_boxed_tool_runs_only_inside_its_window(engine: PolicyEngine, hour: int, decision: str) -> None:
    verdict = ask(engine, "fetch_url", hour=hour, url="https://arxiv.org/abs/1")

    assert verdict.decision == decision
    assert verdict.policy_ids == (["outside-time-box"] if decision == "deny" else ["plan-tier-access"])


def test_the_hour_comes_from_the_clock_when_not_given() -> None:
    at_night = PolicyEngine.load(clock=lambda: 2 * 3600.0 + 86400 * 400)
    in_the_day = PolicyEngine.load(clock=lambda: 15 * 3600.0 + 86400 * 400)

    assert ask(at_night, "fetch_url", url="https://arxiv.org/").policy_ids == ["outside-time-box"]
    assert ask(in_the_day, "fetch_url", url="https://arxiv.org/").decision == "allow"


def test_a_window_across_midnight(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_REGISTRY.read_text())
    data["tools"]["fetch_url"]["time_boxed"] = {"start_hour": 22, "end_hour": 6}
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump(data))
    engine = PolicyEngine.load(registry=registry)

    allowed = [h for h in range(24) if ask(engine, "fetch_url", hour=h, url="https://arxiv.org/").decision == "allow"]

    assert allowed == [0, 1, 2, 3, 4, 5, 22, 23]


def test_a_viewer_cannot_make_an_agent_spend(engine: PolicyEngine) -> None:
    verdict = ask(engine, "web_search", plan="free", roles=("viewer",), question="q")

    assert verdict.decision == "deny" and verdict.policy_ids == ["role-tool-access"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '@id("soft-permit")\n@rule_id("r")\n@approval_timeout_s("60")\n'
            'permit (principal, action == Quarry::Action::"invoke_tool", resource);\n',
            r"\[soft-permit\] a soft policy must be a forbid",
        ),
        (
            '@id("no-rule")\n@approval_timeout_s("60")\nforbid (principal, action == Quarry::Action::"invoke_tool", resource);\n',
            r"\[no-rule\] a soft policy needs @rule_id",
        ),
        (
            '@id("bad-timeout")\n@rule_id("r")\n@approval_timeout_s("soon")\n'
            'forbid (principal, action == Quarry::Action::"invoke_tool", resource);\n',
            r"\[bad-timeout\] @approval_timeout_s must be a positive number of seconds",
        ),
        (
            '@id("tenant-isolation")\n@rule_id("r")\n@approval_timeout_s("60")\n'
            'forbid (principal, action == Quarry::Action::"invoke_tool", resource);\n',
            r"soft/dup\.cedar: @id 'tenant-isolation' already used in guards\.cedar",
        ),
    ],
)
def test_an_invalid_soft_policy_fails_loading(policy_dir: Path, text: str, message: str) -> None:
    (policy_dir / "soft" / "dup.cedar").write_text(text)

    with pytest.raises(PolicyError, match=message):
        PolicyEngine.load(policy_dir)


def test_a_schema_without_the_context_the_engine_sends_fails_loading(policy_dir: Path) -> None:
    schema = policy_dir / "schema.cedarschema.json"
    schema.write_text(schema.read_text().replace('"hour_utc"', '"hour_of_day"'))

    with pytest.raises(PolicyError, match=r"context must declare hour_utc \(Long\)"):
        PolicyEngine.load(policy_dir)


def test_an_erroring_soft_rule_fails_closed(policy_dir: Path) -> None:
    (policy_dir / "soft" / "overflow.cedar").write_text(
        '@id("overflow")\n@rule_id("r")\n@approval_timeout_s("60")\n'
        'forbid (principal, action == Quarry::Action::"invoke_tool", resource)\n'
        "when { context.hour_utc * 9223372036854775807 < 0 };\n"
    )

    verdict = ask(PolicyEngine.load(policy_dir), "web_search", plan="free", hour=12, question="q")

    assert verdict.decision == "deny"
    assert verdict.reasons[0].startswith("evaluation error:") and "`overflow`" in verdict.reasons[0]


# -- the decision table (`make policy-test`) ---------------------------------------------------


def test_the_decision_table_holds_for_the_shipped_policies(engine: PolicyEngine) -> None:
    cases = load_cases(DEFAULT_TABLE)
    outcomes = run_cases(engine, cases)

    failed = {o.case.name: o.mismatches for o in outcomes if not o.ok}
    assert failed == {}
    assert len(cases) >= 30
    assert {c.decision for c in cases} == {"allow", "deny", "require_approval"}


def test_a_wrong_expectation_is_reported_and_fails_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "decisions.yaml"
    table.write_text(
        "cases:\n"
        "  - name: searching needs approval (it does not)\n"
        "    tool: web_search\n"
        "    arguments: {question: q}\n"
        "    expect: {decision: require_approval, policy_ids: [public-report]}\n"
        "  - name: searching is allowed\n"
        "    tool: web_search\n"
        "    arguments: {question: q}\n"
        "    expect: {decision: allow}\n"
    )

    assert main([str(table)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "decision allow, expected require_approval" in out
    assert "1 of 2 cases as expected, FAILED" in out
    assert main([str(DEFAULT_TABLE)]) == 0


def test_a_malformed_table_or_policy_set_exits_2(tmp_path: Path, policy_dir: Path) -> None:
    table = tmp_path / "decisions.yaml"
    table.write_text("cases:\n  - name: x\n    tool: web_search\n    expect: {decision: maybe}\n")
    with pytest.raises(TableError, match=r"cases\.0\.expect\.decision"):
        load_cases(table)
    assert main([str(table)]) == 2
    (policy_dir / "broken.cedar").write_text("permit (")
    assert main([str(DEFAULT_TABLE), "--policy-dir", str(policy_dir)]) == 2
