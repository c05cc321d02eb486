"""Decides tool requests against one version of the policy set: registry, Cedar schema, hard and soft policies.

Three outcomes from Cedar's two (the published two-set design), in three steps:

1. the registry: an unregistered or disabled tool, or arguments outside the tool's input
   schema, are denied before Cedar runs;
2. the hard set (deny-by-default permits and absolute forbids) decides allow or deny, and a
   hard deny is final;
3. the soft set (annotated forbids) is consulted only when the hard set allows: a match turns
   the answer into `require_approval`, citing the rule and its approval timeout.

Both sets are also parsed together into one set. Cedar allows that combined set exactly when
the hard set allows and no soft rule matches, so the common case (allow) costs one Cedar call;
the hard set alone is asked only when nothing but soft rules matched.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import cedarpy

from contracts.policy import SCHEMA_FILE
from contracts.tool import Decision, ToolRequestedPayload
from services.policy.domain.cedarset import CompiledSet, SoftRule, compile_set, soft_rules, validate_files
from services.policy.domain.entities import bool_as_long, context_contract, entity, tool_entities
from services.policy.domain.policyset import PolicyError, PolicyFiles
from services.policy.domain.registry import (
    DEFAULT_REGISTRY,
    MAX_ARGUMENT_ERRORS,
    Registry,
    RegistryError,
    parse_registry,
)
from services.policy.domain.verdict import Verdict

__all__ = ["DEFAULT_POLICY_DIR", "UNREGISTERED_TOOL", "PolicyEngine", "PolicyError", "Verdict"]

DEFAULT_POLICY_DIR: Final = Path(__file__).parent.parent / "policies"
UNREGISTERED_TOOL: Final = "unregistered tool"
MAX_CACHED_PRINCIPALS: Final = 4096

# Dict-form uids: entity ids come from callers and may hold characters Cedar's surface syntax rejects.
_ACTION: Final = {"type": "Quarry::Action", "id": "invoke_tool"}
_REVIEW_PLAN: Final = {"type": "Quarry::Action", "id": "review_plan"}
_PYTHON_TYPES: Final[Mapping[str, tuple[type, ...]]] = {"String": (str,), "Long": (int,), "Boolean": (bool,)}


class PolicyEngine:
    """One immutable version of the policy set. A new version is a new engine, swapped in whole."""

    def __init__(
        self,
        *,
        files: PolicyFiles,
        schema: cedarpy.Schema,
        registry: Registry,
        combined: CompiledSet,
        hard: CompiledSet,
        soft: Mapping[str, SoftRule],
        tool_entities: cedarpy.Entities,
        argument_types: Mapping[str, str],
        clock: Callable[[], float],
    ) -> None:
        self.files = files
        self.version = files.version
        self.registry = registry
        self._schema = schema
        self._combined = combined
        self._hard = hard
        self._soft = soft
        self._tool_entities = tool_entities
        self._argument_types = argument_types
        self._clock = clock
        self._principals: dict[tuple[str, str, str | None, str, tuple[str, ...]], cedarpy.Entities] = {}

    @classmethod
    def load(
        cls,
        directory: Path | str = DEFAULT_POLICY_DIR,
        *,
        registry: Path | str = DEFAULT_REGISTRY,
        clock: Callable[[], float] = time.time,
    ) -> PolicyEngine:
        """Read, validate and parse the policies in `directory` and the tool registry."""
        return cls.from_files(PolicyFiles.from_directory(directory, registry), clock=clock)

    @classmethod
    def from_files(
        cls, files: PolicyFiles | Mapping[str, str], *, clock: Callable[[], float] = time.time
    ) -> PolicyEngine:
        """Validate and parse a whole set; raises PolicyError saying what is wrong with it."""
        files = files if isinstance(files, PolicyFiles) else PolicyFiles.from_mapping(files)
        try:
            registry = parse_registry(files.registry)
        except RegistryError as exc:
            raise PolicyError(str(exc)) from exc
        try:
            schema_json = json.loads(files.schema)
            schema = cedarpy.Schema.from_json_str(files.schema)
        except ValueError as exc:
            raise PolicyError(f"{SCHEMA_FILE}: {exc}") from exc
        argument_types = context_contract(schema_json)
        hard_sources, soft_sources = files.hard, files.soft
        validate_files({**hard_sources, **soft_sources}, schema)
        soft = soft_rules(soft_sources)
        return cls(
            files=files,
            schema=schema,
            registry=registry,
            combined=compile_set({**hard_sources, **soft_sources}),
            hard=compile_set(hard_sources),
            soft=soft,
            tool_entities=tool_entities(registry, schema),
            argument_types=argument_types,
            clock=clock,
        )

    def decide(
        self,
        request: ToolRequestedPayload,
        *,
        tenant_id: str,
        agent: str,
        user_id: str | None,
        budget_remaining_pct: int = 100,
        hour_utc: int | None = None,
    ) -> Verdict:
        """Whether `agent`, acting in `tenant_id` for `user_id`, may invoke the requested tool."""
        started = time.perf_counter()
        tool = self.registry.tools.get(request.tool)
        if tool is None:
            return self._verdict("deny", [UNREGISTERED_TOOL], [], started)
        if not tool.enabled:
            return self._verdict("deny", [f"disabled tool: {tool.name}"], [], started)
        problems = tool.argument_errors(request.arguments)
        if problems:
            reasons = [f"invalid arguments for {tool.name} {tool.version}: {p}" for p in problems[:MAX_ARGUMENT_ERRORS]]
            return self._verdict("deny", reasons, [], started)

        cedar_request = self._request(request, tenant_id, agent, budget_remaining_pct, hour_utc)
        entities = self._entities(request, tenant_id=tenant_id, agent=agent, user_id=user_id)
        result = cedarpy.is_authorized(cedar_request, self._combined.policies, entities, self._schema)
        diagnostics = result.diagnostics
        if diagnostics.errors:
            return self._evaluation_error(self._combined, result, started)
        matched = sorted(self._combined.label(cedar_id) for cedar_id in diagnostics.reasons)
        if result.allowed:
            return self._verdict("allow", [f"permitted by {p}" for p in matched], matched, started, tool.deprecated)

        hard_forbids = [p for p in matched if p not in self._soft]
        if hard_forbids:
            return self._verdict("deny", [f"forbidden by {p}" for p in hard_forbids], hard_forbids, started)
        if matched:
            # Only soft rules matched: they ask for approval only if the hard set alone allows.
            hard = cedarpy.is_authorized(cedar_request, self._hard.policies, entities, self._schema)
            if hard.diagnostics.errors:
                return self._evaluation_error(self._hard, hard, started)
            if hard.allowed:
                return self._approval([self._soft[p] for p in matched], started, tool.deprecated)
        roles = ", ".join(request.roles) or "none"
        reason = (
            f"no policy permits agent {agent!r} to invoke {tool.name!r} on plan {request.plan!r}"
            f" (roles: {roles}): denied by default"
        )
        return self._verdict("deny", [reason], [], started)

    def authorise_plan_review(
        self,
        *,
        tenant_id: str,
        user_id: str,
        roles: list[str],
        run_id: str,
        run_tenant_id: str,
        requester_id: str | None,
        sub_questions: int,
        max_sub_questions: int,
    ) -> Verdict:
        """Whether the user may review the run's plan (`review_plan`), with this many sub-questions.

        Only the hard set is asked: the soft rules are about tool calls, and a plan review is the
        human answer itself, never something to send for approval.
        """
        started = time.perf_counter()
        request = {
            "principal": {"type": "Quarry::User", "id": user_id},
            "action": _REVIEW_PLAN,
            "resource": {"type": "Quarry::Run", "id": run_id},
            "context": {"sub_questions": sub_questions, "max_sub_questions": max_sub_questions},
        }
        # A run without a requester (a monitor's) is reviewed by approvers only: "" names nobody.
        requester = {"__entity": {"type": "Quarry::User", "id": requester_id or ""}}
        entities = self._tool_entities.with_added_json_str(
            json.dumps(
                [
                    entity("User", user_id, {"tenant": tenant_id, "roles": list(roles)}),
                    entity("Run", run_id, {"tenant": run_tenant_id, "requester": requester}),
                ]
            )
        )
        result = cedarpy.is_authorized(request, self._hard.policies, entities, self._schema)
        if result.diagnostics.errors:
            return self._evaluation_error(self._hard, result, started)
        matched = sorted(self._hard.label(cedar_id) for cedar_id in result.diagnostics.reasons)
        if result.allowed:
            return self._verdict("allow", [f"permitted by {p}" for p in matched], matched, started)
        if matched:
            return self._verdict("deny", [f"forbidden by {p}" for p in matched], matched, started)
        reason = (
            f"no policy permits user {user_id!r} (roles: {', '.join(roles) or 'none'}) to review the plan"
            f" of run {run_id!r}: denied by default"
        )
        return self._verdict("deny", [reason], [], started)

    def _request(
        self, request: ToolRequestedPayload, tenant_id: str, agent: str, budget_remaining_pct: int, hour_utc: int | None
    ) -> dict[str, Any]:
        arguments = request.arguments
        # The tenant whose resources the call touches: an argument may aim it elsewhere, which
        # is exactly what tenant isolation exists to refuse.
        target_tenant = str(arguments.get("tenant", tenant_id))
        url = arguments.get("url")
        url_host = (urlsplit(url).hostname or "") if isinstance(url, str) else ""
        declared = self._argument_types
        visible = {
            k: v
            for k, v in arguments.items()
            if k in declared and isinstance(v, _PYTHON_TYPES.get(declared[k], ())) and not bool_as_long(v, declared[k])
        }
        return {
            "principal": {"type": "Quarry::Agent", "id": agent},
            "action": _ACTION,
            "resource": {"type": "Quarry::Tool", "id": request.tool},
            "context": {
                "tenant": target_tenant,
                "plan": request.plan,
                "step": request.step,
                "roles": list(request.roles),
                "budget_remaining_pct": budget_remaining_pct,
                "hour_utc": int(self._clock() // 3600 % 24) if hour_utc is None else hour_utc,
                "url_host": url_host,
                "arguments": visible,
            },
        }

    def _entities(
        self,
        request: ToolRequestedPayload,
        *,
        tenant_id: str,
        agent: str,
        user_id: str | None,
    ) -> cedarpy.Entities:
        """The registered tools plus this request's agent, the user it acts for, and the tenant."""
        key = (tenant_id, agent, user_id, request.plan, tuple(request.roles))
        cached = self._principals.get(key)
        if cached is not None:
            return cached
        acting: list[dict[str, Any]] = [
            entity("Agent", agent, {"tenant": tenant_id, "acting_for": user_id or ""}),
            entity("Tenant", tenant_id, {"plan": request.plan}),
        ]
        if user_id is not None:
            acting.append(entity("User", user_id, {"tenant": tenant_id, "roles": list(request.roles)}))
        # Only this small delta is parsed, once per principal; the tools were parsed and checked at load.
        entities = self._tool_entities.with_added_json_str(json.dumps(acting))
        if len(self._principals) >= MAX_CACHED_PRINCIPALS:
            self._principals.clear()  # cheaper than LRU bookkeeping on every call; refilled on demand
        self._principals[key] = entities
        return entities

    def _approval(self, rules: list[SoftRule], started: float, deprecated: str | None) -> Verdict:
        reasons = [f"approval required by {r.policy_id} (rule {r.rule_id}, within {r.timeout_s}s)" for r in rules]
        verdict = self._verdict("require_approval", reasons, [r.policy_id for r in rules], started, deprecated)
        return replace(
            verdict,
            approval_rule_ids=sorted({r.rule_id for r in rules}),
            approval_timeout_s=min(r.timeout_s for r in rules),
        )

    def _evaluation_error(self, policies: CompiledSet, result: cedarpy.AuthzResult, started: float) -> Verdict:
        # Cedar skips a policy that errors, so an erroring forbid would let a permit through: fail closed.
        errors = [f"evaluation error: {policies.relabel(e)}" for e in result.diagnostics.errors]
        return self._verdict("deny", errors, [], started)

    def _verdict(
        self,
        decision: Decision,
        reasons: list[str],
        policy_ids: list[str],
        started: float,
        deprecated: str | None = None,
    ) -> Verdict:
        if deprecated is not None:
            reasons = [*reasons, f"deprecated: {deprecated}"]
        elapsed_ms = (time.perf_counter() - started) * 1000
        return Verdict(decision, reasons, policy_ids, self.version, elapsed_ms)

    def cedar_request(
        self,
        request: ToolRequestedPayload,
        *,
        tenant_id: str,
        agent: str,
        budget_remaining_pct: int = 100,
        hour_utc: int | None = None,
    ) -> dict[str, Any]:
        """The Cedar request `decide` evaluates (for the benchmark's raw-cedarpy baseline)."""
        return self._request(request, tenant_id, agent, budget_remaining_pct, hour_utc)
