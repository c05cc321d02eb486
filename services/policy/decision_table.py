"""`make policy-test`: run a YAML table of expected decisions against the policy files.

    python -m services.policy.decision_table [TABLE] [--policy-dir DIR] [--registry FILE]

Each case names a principal (tenant, agent, user, plan, roles), a tool with its arguments, and
the context (budget left, UTC hour); it expects a decision and, optionally, the deciding policy
ids, the approval rule ids and a phrase of the reasons. A case with `action: review_plan` asks
instead whether the user may review a run's plan: `run` names the run's tenant, its requester
and how many sub-questions the reviewed plan holds of how many its depth allows. The engine decides each case exactly
as the service would (no rate limit: that is state, not policy). Prints a table; exits 1 on any
mismatch, 2 when the table or the policy set cannot be loaded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import jsonschema  # type: ignore[import-untyped]
import yaml  # type: ignore[import-untyped]
from rich.console import Console
from rich.table import Table
from rich.text import Text

from contracts.policy import SimulatedContext, SimulatedPrincipal, SimulatedResource, SimulateRequest
from contracts.tool import Decision
from services.policy.domain.engine import DEFAULT_POLICY_DIR, PolicyEngine, PolicyError, Verdict
from services.policy.domain.errors import PolicyServiceError
from services.policy.domain.registry import DEFAULT_REGISTRY
from services.policy.domain.simulation import simulate

DEFAULT_TABLE: Final = Path(__file__).parent / "decisions.yaml"

_PRINCIPAL = {
    "tenant": {"type": "string", "minLength": 1},
    "agent": {"type": "string", "minLength": 1},
    "user": {"type": ["string", "null"]},
    "plan": {"type": "string"},
    "roles": {"type": "array", "items": {"type": "string"}},
    "budget": {"type": "integer", "minimum": 0, "maximum": 100},
    "hour": {"type": "integer", "minimum": 0, "maximum": 23},
    "step": {"type": "string"},
}
TABLE_FORMAT: Final = {
    "type": "object",
    "required": ["cases"],
    "additionalProperties": False,
    "properties": {
        "defaults": {"type": "object", "properties": _PRINCIPAL, "additionalProperties": False},
        "cases": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "expect"],
                "additionalProperties": False,
                # A tool call names its tool; a plan review names the run.
                "oneOf": [
                    {"required": ["tool"], "not": {"required": ["run"]}},
                    {"required": ["action", "run"], "properties": {"action": {"const": "review_plan"}}},
                ],
                "properties": {
                    **_PRINCIPAL,
                    "name": {"type": "string", "minLength": 1},
                    "action": {"enum": ["invoke_tool", "review_plan"]},
                    "tool": {"type": "string", "minLength": 1},
                    "run": {
                        "type": "object",
                        "required": ["requester", "sub_questions", "max_sub_questions"],
                        "additionalProperties": False,
                        "properties": {
                            "tenant": {"type": "string", "minLength": 1},
                            "requester": {"type": ["string", "null"]},
                            "sub_questions": {"type": "integer", "minimum": 0},
                            "max_sub_questions": {"type": "integer", "minimum": 1},
                        },
                    },
                    "arguments": {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean"]}},
                    "expect": {
                        "type": "object",
                        "required": ["decision"],
                        "additionalProperties": False,
                        "properties": {
                            "decision": {"enum": ["allow", "deny", "require_approval"]},
                            "policy_ids": {"type": "array", "items": {"type": "string"}},
                            "rule_ids": {"type": "array", "items": {"type": "string"}},
                            "reason": {"type": "string", "description": "a phrase one of the reasons contains"},
                        },
                    },
                },
            },
        },
    },
}
_DEFAULTS: Final[dict[str, Any]] = {
    "tenant": "acme",
    "agent": "quarry-orchestrator",
    "user": "user-1",
    "plan": "free",
    "roles": ["member"],
    "budget": 100,
    "hour": 12,
    "step": "policy-test",
}


class TableError(PolicyServiceError):
    """The decision table cannot be read or does not have the expected shape."""


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    tool: str
    tenant: str
    agent: str
    user: str | None
    plan: str
    roles: list[str]
    budget: int
    hour: int
    step: str
    arguments: dict[str, str | int | bool]
    decision: Decision
    run: dict[str, Any] | None = None  # a plan review's run: tenant, requester, sub_questions, max_sub_questions
    policy_ids: list[str] | None = None
    rule_ids: list[str] | None = None
    reason: str | None = None

    def query(self) -> SimulateRequest:
        """The tool call as the policy service's simulation is asked it."""
        return SimulateRequest(
            principal=SimulatedPrincipal(
                tenant_id=self.tenant, agent=self.agent, user_id=self.user, roles=self.roles, plan=self.plan
            ),
            resource=SimulatedResource(tool=self.tool, arguments=dict(self.arguments)),
            context=SimulatedContext(budget_remaining_pct=self.budget, hour_utc=self.hour, step=self.step),
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    verdict: Verdict
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def load_cases(path: Path | str = DEFAULT_TABLE) -> list[Case]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TableError(f"cannot read {path}: {exc}") from exc
    problems = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}"
        for e in jsonschema.Draft202012Validator(TABLE_FORMAT).iter_errors(data)
    ]
    if problems:
        raise TableError(f"{path}: invalid decision table:\n" + "\n".join(problems))
    defaults = {**_DEFAULTS, **data.get("defaults", {})}
    cases = []
    for raw in data["cases"]:
        merged = {**defaults, **raw}
        expect = raw["expect"]
        cases.append(
            Case(
                name=raw["name"],
                tool=raw.get("tool", "review_plan"),
                tenant=merged["tenant"],
                agent=merged["agent"],
                user=merged["user"],
                plan=merged["plan"],
                roles=list(merged["roles"]),
                budget=merged["budget"],
                hour=merged["hour"],
                step=merged["step"],
                arguments=dict(raw.get("arguments", {})),
                decision=expect["decision"],
                policy_ids=expect.get("policy_ids"),
                rule_ids=expect.get("rule_ids"),
                reason=expect.get("reason"),
                run={"tenant": merged["tenant"], **raw["run"]} if "run" in raw else None,
            )
        )
    names = [c.name for c in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TableError(f"{path}: case names must be unique: {duplicates}")
    return cases


def run_cases(engine: PolicyEngine, cases: Sequence[Case]) -> list[Outcome]:
    outcomes = []
    for case in cases:
        if case.run is not None:
            review = engine.authorise_plan_review(
                tenant_id=case.tenant,
                user_id=case.user or "",
                roles=case.roles,
                run_id=f"policy-test:{case.name}",
                run_tenant_id=case.run["tenant"],
                requester_id=case.run["requester"],
                sub_questions=case.run["sub_questions"],
                max_sub_questions=case.run["max_sub_questions"],
            )
            outcomes.append(Outcome(case, review, _mismatches(case, review)))
            continue
        verdict = simulate(engine, case.query())
        outcomes.append(Outcome(case, verdict, _mismatches(case, verdict)))
    return outcomes


def _mismatches(case: Case, verdict: Verdict) -> list[str]:
    found = []
    if verdict.decision != case.decision:
        found.append(f"decision {verdict.decision}, expected {case.decision}")
    if case.policy_ids is not None and sorted(verdict.policy_ids) != sorted(case.policy_ids):
        found.append(f"policies {verdict.policy_ids}, expected {case.policy_ids}")
    if case.rule_ids is not None and sorted(verdict.approval_rule_ids) != sorted(case.rule_ids):
        found.append(f"approval rules {verdict.approval_rule_ids}, expected {case.rule_ids}")
    if case.reason is not None and not any(case.reason in r for r in verdict.reasons):
        found.append(f"no reason mentions {case.reason!r}")
    return found


def render(outcomes: Sequence[Outcome], version: str) -> Table:
    table = Table(title=f"policy decisions, policy set {version}", title_justify="left")
    for head in ("", "case", "principal", "tool", "context", "decision", "policies", "why / mismatch"):
        table.add_column(head, overflow="fold")
    for o in outcomes:
        c, v = o.case, o.verdict
        table.add_row(
            "[green]ok[/green]" if o.ok else "[red]FAIL[/red]",
            c.name,
            f"{c.tenant} {c.plan} {','.join(c.roles) or '-'}",
            c.tool,
            f"budget {c.budget}%, {c.hour:02d}h"
            if c.run is None
            else f"run of {c.run['tenant']} by {c.run['requester']}, {c.run['sub_questions']}/{c.run['max_sub_questions']}",
            v.decision,
            ", ".join(v.policy_ids) or "-",
            "; ".join(o.mismatches) if o.mismatches else "; ".join(v.reasons),
        )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.policy.decision_table", description=__doc__)
    parser.add_argument("table", nargs="?", type=Path, default=DEFAULT_TABLE)
    parser.add_argument("--policy-dir", type=Path, default=DEFAULT_POLICY_DIR)
    parser.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY)
    args = parser.parse_args(argv)
    console = Console(width=200) if not sys.stdout.isatty() else Console()
    try:
        engine = PolicyEngine.load(args.policy_dir, registry=args.registry)
        cases = load_cases(args.table)
    except (PolicyError, TableError) as exc:
        console.print(Text(str(exc), style="red"))
        return 2
    outcomes = run_cases(engine, cases)
    console.print(render(outcomes, engine.version))
    failed = [o for o in outcomes if not o.ok]
    console.print(
        f"{len(outcomes) - len(failed)} of {len(outcomes)} cases as expected" + (", FAILED" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
