"""Cedar entities and context as the engine sends them, checked against the schema."""

from __future__ import annotations

import json
from typing import Any, Final

import cedarpy

from contracts.policy import SCHEMA_FILE
from services.policy.domain.policyset import PolicyError
from services.policy.domain.registry import Registry

# What the engine puts in every request's context, and the Cedar type the schema must give it.
CONTEXT: Final = {
    "tenant": "String",
    "plan": "String",
    "step": "String",
    "roles": "Set",
    "budget_remaining_pct": "Long",
    "hour_utc": "Long",
    "url_host": "String",
    "arguments": "Record",
}


def bool_as_long(value: object, cedar_type: str) -> bool:
    # bool is an int in Python; Cedar keeps them apart.
    return cedar_type == "Long" and isinstance(value, bool)


def entity(kind: str, entity_id: str, attrs: dict[str, Any]) -> dict[str, Any]:
    return {"uid": {"type": f"Quarry::{kind}", "id": entity_id}, "attrs": attrs, "parents": []}


def tool_entities(registry: Registry, schema: cedarpy.Schema) -> cedarpy.Entities:
    """Every registered tool as a Cedar entity, checked against the schema once, as is the shape
    of the per-request entities (agent, tenant, user) added to it later."""
    try:
        tools = cedarpy.Entities.from_json_str(registry.entities_json(), schema)
        sample = [
            entity("Agent", "a", {"tenant": "t", "acting_for": "u"}),
            entity("Tenant", "t", {"plan": "free"}),
            entity("User", "u", {"tenant": "t", "roles": ["member"]}),
        ]
        tools.with_added_json_str(json.dumps(sample), schema)
    except ValueError as exc:
        raise PolicyError(f"the tool registry does not fit the schema: {exc}") from exc
    return tools


def context_contract(schema_json: Any) -> dict[str, str]:
    """Check the schema declares the context the engine sends; the declared `arguments` fields by type."""
    try:
        context = schema_json["Quarry"]["actions"]["invoke_tool"]["appliesTo"]["context"]["attributes"]
    except (KeyError, TypeError) as exc:
        raise PolicyError(f'{SCHEMA_FILE}: no context attributes for Quarry::Action::"invoke_tool"') from exc
    wrong = [
        f"{name} ({kind})"
        for name, kind in CONTEXT.items()
        if not isinstance(context.get(name), dict) or context[name].get("type") != kind
    ]
    if wrong:
        raise PolicyError(f"{SCHEMA_FILE}: the invoke_tool context must declare {', '.join(wrong)}")
    declared = context["arguments"].get("attributes", {})
    return {name: spec.get("type", "") for name, spec in declared.items() if isinstance(spec, dict)}
