"""Every event round-trips, tolerates unknown fields, and keeps a compatible schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from contracts import subjects
from contracts.envelope import Event
from contracts.ids import derived_id, id_time_ms, new_id, stable_id
from contracts.registry import EVENT_TYPES, event_type_for_subject, parse_event
from devtools.export_contracts import ROOT, event_schemas


def sample(model: type[BaseModel]) -> dict[str, Any]:
    """A minimal valid instance of `model`, built from its JSON Schema."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})

    def build(s: dict[str, Any]) -> Any:
        if "$ref" in s:
            return build(defs[s["$ref"].split("/")[-1]])
        if "anyOf" in s:
            return build(next(x for x in s["anyOf"] if x.get("type") != "null"))
        if "enum" in s:
            return s["enum"][0]
        if "const" in s:
            return s["const"]
        kind = s.get("type")
        if kind == "object":
            props = s.get("properties", {})
            if not props:
                return {}
            chosen = {k: build(v) for k, v in props.items() if k in s.get("required", [])}
            # A model of options only (one of which must be given) gets its first option.
            return chosen or {k: build(v) for k, v in list(props.items())[:1]}
        if kind == "array":
            return [build(s["items"])] * max(1, s.get("minItems", 0))
        if kind == "integer":
            return max(1, s.get("minimum", 1), s.get("exclusiveMinimum", 0) + 1)
        if kind == "number":
            return 1.0
        if kind == "boolean":
            return True
        if s.get("format") == "date-time":
            return "2026-11-25T08:00:00Z"
        # A pattern-bound string (a content hash's hex digits, a name): `a` suits every one used.
        return ("a" if "pattern" in s else "x") * max(3, s.get("minLength", 3))

    instance = build(schema)
    assert isinstance(instance, dict), instance
    return instance


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.__name__)
def test_every_event_round_trips(cls: type[Event]) -> None:
    payload_model = cls.model_fields["payload"].annotation
    assert isinstance(payload_model, type) and issubclass(payload_model, BaseModel)
    payload = payload_model.model_validate(sample(payload_model))
    event = cls.create(payload, tenant_id="t1", run_id=new_id())
    again = parse_event(event.to_bytes())
    assert type(again) is cls
    assert again == event
    assert (
        event_type_for_subject(cls.SUBJECT if cls.SUBJECT != subjects.TASK_DISPATCHED else "task.v1.dispatched.analyst")
        is cls
    )


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.__name__)
def test_a_v1_consumer_accepts_unknown_extra_fields(cls: type[Event]) -> None:
    payload_model = cls.model_fields["payload"].annotation
    assert isinstance(payload_model, type) and issubclass(payload_model, BaseModel)
    event = cls.create(payload_model.model_validate(sample(payload_model)), tenant_id="t1")
    data = json.loads(event.to_bytes())
    data["added_in_v1_7"] = {"anything": [1, 2]}
    data["payload"]["new_optional_field"] = "from a newer producer"
    parsed = cls.model_validate_json(json.dumps(data))
    assert parsed.event_id == event.event_id
    assert parsed.payload == event.payload


def test_malformed_events_are_refused_with_a_reason() -> None:
    with pytest.raises(ValidationError):
        parse_event(b'{"type": "run.requested", "tenant_id": "t", "payload": {"question": "q"}}')
    with pytest.raises(KeyError):
        parse_event(b'{"type": "run.exploded", "tenant_id": "t", "payload": {}}')


def test_ids_are_time_sortable_and_derived_ids_are_stable() -> None:
    a = new_id()
    b = new_id()
    assert id_time_ms(a) <= id_time_ms(b)
    assert derived_id(a, "x") == derived_id(a, "x") != derived_id(a, "y")
    assert id_time_ms(derived_id(a, "x")) == id_time_ms(a)
    assert stable_id("k", 5) == stable_id("k", 5) != stable_id("k2", 5)
    assert sorted([stable_id("z", 1), stable_id("a", 2)]) == [stable_id("z", 1), stable_id("a", 2)]


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].split("/")[-1]]
    if "anyOf" in schema:
        return {"type": [_resolve(s, root).get("type") for s in schema["anyOf"]]}
    return schema


def _compatible(
    old: dict[str, Any], new: dict[str, Any], path: str = "", roots: tuple[Any, Any] | None = None
) -> list[str]:
    """Breaking differences: a property removed, a newly required property, a changed type."""
    roots = roots or (old, new)
    old, new = _resolve(old, roots[0]), _resolve(new, roots[1])
    problems = []
    if old.get("type") != new.get("type"):
        problems.append(f"{path or '/'}: type {old.get('type')} -> {new.get('type')}")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name in old_props:
        if name not in new_props:
            problems.append(f"{path}/{name}: removed")
        else:
            problems += _compatible(old_props[name], new_props[name], f"{path}/{name}", roots)
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        problems.append(f"{path}/{name}: newly required")
    return problems


@pytest.mark.parametrize("subject", sorted(event_schemas()))
def test_schema_snapshot_is_compatible(subject: str) -> None:
    snapshot = Path(ROOT) / f"{subject}.json"
    assert snapshot.exists(), f"no snapshot for {subject}: run `make contracts` and commit contracts/schema"
    old = json.loads(snapshot.read_text())
    new = event_schemas()[subject]
    assert not _compatible(old, new), "incompatible change; publish a v2 subject instead"
    assert old == json.loads(json.dumps(new, sort_keys=True)), "schema changed compatibly: run `make contracts`"


def test_ids_made_back_to_back_sort_in_the_order_they_were_made() -> None:
    from contracts.ids import new_id

    ids = [new_id() for _ in range(20_000)]  # many per millisecond
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_every_snapshot_still_has_its_event() -> None:
    snapshots = {p.stem for p in Path(ROOT).glob("*.json")} - {"asyncapi"}
    assert snapshots == set(event_schemas())
    assert len(EVENT_TYPES) == len(snapshots)
