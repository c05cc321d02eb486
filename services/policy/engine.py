"""Decides tool requests with Cedar, over a policy set and schema kept as files in one directory."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import cedarpy

from contracts.tool import Decision, ToolDecidedPayload, ToolRequestedPayload
from services.policy.tools import TOOLS, ToolSpec

DEFAULT_POLICY_DIR: Final = Path(__file__).parent / "policies"
SCHEMA_FILE: Final = "schema.cedarschema.json"
UNREGISTERED_TOOL: Final = "unregistered tool"

# Dict-form uids: entity ids come from callers and may hold characters Cedar's surface syntax rejects.
_ACTION: Final = {"type": "Quarry::Action", "id": "invoke_tool"}


class PolicyError(Exception):
    """The policy directory cannot be loaded: a file is missing, unparsable, or rejected by the schema."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one decision and the policies that determined it."""

    decision: Decision
    reasons: list[str]
    policy_ids: list[str]
    version: str
    evaluation_ms: float

    def to_payload(self, request: ToolRequestedPayload) -> ToolDecidedPayload:
        """The `tool.decided` payload answering `request`."""
        return ToolDecidedPayload(
            request_id=request.request_id,
            task_id=request.task_id,
            tool=request.tool,
            decision=self.decision,
            reasons=self.reasons,
            policy_ids=self.policy_ids,
            policy_version=self.version,
            evaluation_ms=self.evaluation_ms,
        )


@dataclass(frozen=True, slots=True)
class _CompiledSet:
    """One parsed policy set, with each policy's `@id` keyed by the positional id Cedar gave it."""

    policies: cedarpy.PolicySet
    ids: Mapping[str, str]

    def label(self, cedar_id: str) -> str:
        """The `@id` of a policy Cedar reports as `policyN`."""
        return self.ids.get(cedar_id, cedar_id)

    def relabel(self, message: str) -> str:
        """`message` with Cedar's positional policy ids replaced by their `@id`s."""
        for cedar_id, annotation in self.ids.items():
            message = message.replace(f"`{cedar_id}`", f"`{annotation}`")
        return message


class PolicyEngine:
    """Cedar over a validated, pre-parsed policy set: deny by default, any matching forbid wins.

    The outcome type already has room for `require_approval`: a later "soft" set will be evaluated
    only after the hard set allows, turning its matches into approval requests.
    """

    def __init__(
        self,
        *,
        schema: cedarpy.Schema,
        hard: _CompiledSet,
        version: str,
        tools: Mapping[str, ToolSpec],
        tool_entities: cedarpy.Entities,
    ) -> None:
        self._schema = schema
        self._hard = hard
        self._tools = tools
        self._tool_entities = tool_entities
        self.version = version

    @classmethod
    def load(cls, directory: Path | str = DEFAULT_POLICY_DIR, *, tools: Mapping[str, ToolSpec] = TOOLS) -> PolicyEngine:
        """Read, validate and parse the schema and `*.cedar` policies in `directory`."""
        root = Path(directory)
        schema_text = _read(root / SCHEMA_FILE)
        sources = {path.name: _read(path) for path in sorted(root.glob("*.cedar"))}
        if not sources:
            raise PolicyError(f"no *.cedar policy files in {root}")
        try:
            schema = cedarpy.Schema.from_json_str(schema_text)
        except ValueError as exc:
            raise PolicyError(f"{SCHEMA_FILE}: {exc}") from exc
        hard = _compile(sources, schema)
        version = _version({SCHEMA_FILE: schema_text, **sources})
        return cls(
            schema=schema,
            hard=hard,
            version=version,
            tools=tools,
            tool_entities=_tool_entities(tools, schema),
        )

    def decide(
        self,
        request: ToolRequestedPayload,
        *,
        tenant_id: str,
        agent: str,
        user_id: str | None,
        budget_remaining_pct: int = 100,
    ) -> Verdict:
        """Whether `agent`, acting in `tenant_id` for `user_id`, may invoke the requested tool."""
        started = time.perf_counter()
        tool = self._tools.get(request.tool)
        if tool is None:
            return self._verdict("deny", [UNREGISTERED_TOOL], [], started)

        # The tenant whose resources the call touches: a tool argument may aim it elsewhere, which
        # is exactly what tenant isolation exists to refuse.
        target_tenant = str(request.arguments.get("tenant", tenant_id))
        cedar_request = {
            "principal": {"type": "Quarry::Agent", "id": agent},
            "action": _ACTION,
            "resource": {"type": "Quarry::Tool", "id": tool.name},
            "context": {
                "tenant": target_tenant,
                "plan": request.plan,
                "step": request.step,
                "budget_remaining_pct": budget_remaining_pct,
            },
        }
        entities = self._entities(request, tenant_id=tenant_id, agent=agent, user_id=user_id)
        result = cedarpy.is_authorized(cedar_request, self._hard.policies, entities, self._schema)

        determining = sorted(self._hard.label(cedar_id) for cedar_id in result.diagnostics.reasons)
        errors = [f"evaluation error: {self._hard.relabel(e)}" for e in result.diagnostics.errors]
        if errors:
            # Cedar skips a policy that errors, so an erroring forbid would let a permit through: fail closed.
            return self._verdict("deny", errors, [], started)
        if result.allowed:
            return self._verdict("allow", [f"permitted by {p}" for p in determining], determining, started)
        if determining:
            reasons = [f"forbidden by {p}" for p in determining]
        else:
            reasons = [
                f"no policy permits agent {agent!r} to invoke {tool.name!r} on plan {request.plan!r}: denied by default"
            ]
        return self._verdict("deny", reasons, determining, started)

    def _entities(
        self,
        request: ToolRequestedPayload,
        *,
        tenant_id: str,
        agent: str,
        user_id: str | None,
    ) -> cedarpy.Entities:
        """The registered tools plus this request's agent, the user it acts for, and the tenant."""
        acting: list[dict[str, Any]] = [
            _entity("Agent", agent, {"tenant": tenant_id, "acting_for": user_id or ""}),
            _entity("Tenant", tenant_id, {"plan": request.plan}),
        ]
        if user_id is not None:
            acting.append(_entity("User", user_id, {"tenant": tenant_id, "roles": list(request.roles)}))
        # Only this small delta is parsed per call; the tools were parsed and schema-checked at load.
        return self._tool_entities.with_added_json_str(json.dumps(acting))

    def _verdict(self, decision: Decision, reasons: list[str], policy_ids: list[str], started: float) -> Verdict:
        elapsed_ms = (time.perf_counter() - started) * 1000
        return Verdict(decision, reasons, policy_ids, self.version, elapsed_ms)


def _entity(kind: str, entity_id: str, attrs: dict[str, Any]) -> dict[str, Any]:
    return {"uid": {"type": f"Quarry::{kind}", "id": entity_id}, "attrs": attrs, "parents": []}


def _tool_entities(tools: Mapping[str, ToolSpec], schema: cedarpy.Schema) -> cedarpy.Entities:
    """Every registered tool as a Cedar entity, checked against the schema once."""
    entities = [_entity("Tool", spec.name, {"name": spec.name, "tier": spec.tier}) for spec in tools.values()]
    try:
        return cedarpy.Entities.from_json_str(json.dumps(entities), schema)
    except ValueError as exc:
        raise PolicyError(f"the tool registry does not fit the schema: {exc}") from exc


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read {path}: {exc}") from exc


def _compile(sources: Mapping[str, str], schema: cedarpy.Schema) -> _CompiledSet:
    """Validate each file against the schema, then parse them all into one set."""
    problems: list[str] = []
    for name, text in sources.items():
        result = cedarpy.validate_policies(text, schema)
        for error in result.errors:
            label = result.id_annotations_by_policy_id.get(error.policy_id, error.policy_id)
            message = error.error.replace(f"`{error.policy_id}`", f"`{label}`") if label else error.error
            problems.append(f"{name}: [{label}] {message}" if label else f"{name}: {message}")
    if not problems:
        problems = _missing_or_duplicate_ids(sources)
    if problems:
        raise PolicyError("invalid policies:\n" + "\n".join(problems))

    try:
        # Files end however their authors left them; a newline keeps a trailing comment to its own file.
        policies = cedarpy.PolicySet.from_str("\n".join(sources.values()))
        tree = policies.to_pst()
    except ValueError as exc:
        raise PolicyError(f"invalid policies: {exc}") from exc
    ids = {
        cedar_id: policy.annotations["id"] for cedar_id, policy in {**tree.static_policies, **tree.templates}.items()
    }
    return _CompiledSet(policies, ids)


def _missing_or_duplicate_ids(sources: Mapping[str, str]) -> list[str]:
    """Every policy must carry a unique `@id`: decisions cite it, so it must name one policy."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for name, text in sources.items():
        try:
            tree = cedarpy.policies_to_pst(text)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            continue
        for policy in (*tree.static_policies.values(), *tree.templates.values()):
            annotation = policy.annotations.get("id", "")
            if not annotation:
                problems.append(f"{name}: a {policy.effect} policy has no @id annotation")
            elif annotation in seen:
                problems.append(f"{name}: @id {annotation!r} already used in {seen[annotation]}")
            else:
                seen[annotation] = name
    return problems


def _version(files: Mapping[str, str]) -> str:
    """A short digest of every loaded file's name and content, so any edit yields a new version."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(files[name].encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]
