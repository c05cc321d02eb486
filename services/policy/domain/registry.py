"""The tool registry (YAML): which tools exist, what each accepts, who may use it, how often, at what cost.

The registry is data the policies read: each tool becomes a Cedar `Quarry::Tool` entity whose
attributes (tiers, roles, essential, time box, allowed domains, approval plans) the hard and
soft policies test. What Cedar cannot express well is checked here, before Cedar runs: that the
tool is registered and enabled, and that the call's arguments fit the tool's input schema.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import jsonschema  # type: ignore[import-untyped]
import yaml  # type: ignore[import-untyped]
from jsonschema import validators
from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]

from services.policy.domain.errors import PolicyServiceError

DEFAULT_REGISTRY: Final = Path(__file__).parent.parent / "registry.yaml"
MAX_ARGUMENT_ERRORS: Final = 3

_HOUR = {"type": "integer", "minimum": 0, "maximum": 24}
_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True}
# The shape of registry.yaml itself, so a typo is refused with the path to it.
REGISTRY_FORMAT: Final[Mapping[str, Any]] = {
    "type": "object",
    "required": ["format", "plans", "roles", "tools"],
    "additionalProperties": False,
    "properties": {
        "format": {"const": 1},
        "plans": {**_NAMES, "minItems": 1},
        "roles": {**_NAMES, "minItems": 1},
        "tools": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,63}$"},
            "additionalProperties": {
                "type": "object",
                "required": ["version", "tiers", "roles", "essential", "rate_limit", "cost", "input_schema"],
                "additionalProperties": False,
                "properties": {
                    "version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
                    "description": {"type": "string"},
                    "tiers": {**_NAMES, "minItems": 1},
                    "roles": {**_NAMES, "minItems": 1},
                    "essential": {"type": "boolean"},
                    "enabled": {"type": "boolean"},
                    "deprecated": {"type": ["string", "null"], "minLength": 1},
                    "rate_limit": {
                        "type": "object",
                        "required": ["calls", "per_s"],
                        "additionalProperties": False,
                        "properties": {
                            # The shared window keeps one time per call: bounded, so its entry stays small.
                            "calls": {"type": "integer", "minimum": 1, "maximum": 10000},
                            "per_s": {"type": "integer", "minimum": 1, "maximum": 86400},
                        },
                    },
                    "cost": {
                        "type": "object",
                        "required": ["unit", "credits"],
                        "additionalProperties": False,
                        "properties": {
                            "unit": {"type": "string", "minLength": 1},
                            "credits": {"type": "number", "minimum": 0},
                        },
                    },
                    "approval": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"plans": _NAMES},
                    },
                    "time_boxed": {
                        "type": ["object", "null"],
                        "required": ["start_hour", "end_hour"],
                        "additionalProperties": False,
                        "properties": {"start_hour": {**_HOUR, "maximum": 23}, "end_hour": _HOUR},
                    },
                    "allowed_domains": _NAMES,
                    "input_schema": {"type": "object"},
                },
            },
        },
    },
}


class RegistryError(PolicyServiceError):
    """The registry cannot be used: unparsable YAML, a wrong shape, or an inconsistent tool."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    calls: int
    per_s: int


@dataclass(frozen=True, slots=True)
class Cost:
    unit: str
    credits: float


@dataclass(frozen=True, slots=True)
class TimeBox:
    """UTC hours [start_hour, end_hour); a window with start after end wraps midnight."""

    start_hour: int
    end_hour: int

    def contains(self, hour: int) -> bool:
        if self.start_hour < self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One registered tool, with its input schema compiled once."""

    name: str
    version: str
    tiers: frozenset[str]
    roles: frozenset[str]
    essential: bool
    rate_limit: RateLimit
    cost: Cost
    input_schema: Mapping[str, Any]
    description: str = ""
    enabled: bool = True
    deprecated: str | None = None
    approval_plans: frozenset[str] = frozenset()
    time_box: TimeBox | None = None
    allowed_domains: frozenset[str] = frozenset()
    _validator: Any = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_validator", _compile(self.input_schema))

    def argument_errors(self, arguments: Mapping[str, Any]) -> list[str]:
        """Why `arguments` do not fit the input schema (empty when they do)."""
        validator = self._validator
        if validator.is_valid(arguments):  # the common case, without building error objects
            return []
        errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
        return [f"{'.'.join(str(p) for p in e.path) or '(arguments)'}: {e.message}" for e in errors]

    def cedar_entity(self) -> dict[str, Any]:
        box = self.time_box
        return {
            "uid": {"type": "Quarry::Tool", "id": self.name},
            "attrs": {
                "name": self.name,
                "version": self.version,
                "tiers": sorted(self.tiers),
                "roles": sorted(self.roles),
                "essential": self.essential,
                "deprecated": self.deprecated is not None,
                "time_boxed": box is not None,
                "window_start": box.start_hour if box else 0,
                "window_end": box.end_hour if box else 24,
                "allowed_domains": sorted(self.allowed_domains),
                "approval_plans": sorted(self.approval_plans),
            },
            "parents": [],
        }


@dataclass(frozen=True, slots=True)
class Registry(Mapping[str, ToolSpec]):
    """The registered tools by name, read-only so nothing registers a tool behind the policies' back."""

    tools: Mapping[str, ToolSpec]
    plans: frozenset[str]
    roles: frozenset[str]

    def __getitem__(self, name: str) -> ToolSpec:
        return self.tools[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tools)

    def __len__(self) -> int:
        return len(self.tools)

    def entities_json(self) -> str:
        return json.dumps([spec.cedar_entity() for spec in self.tools.values()])


def load_registry(path: Path | str = DEFAULT_REGISTRY) -> Registry:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"cannot read {path}: {exc}") from exc
    return parse_registry(text, source=Path(path).name)


def parse_registry(text: str, source: str = "registry.yaml") -> Registry:
    """Parse and check the registry; every problem found is in the one error raised."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegistryError(f"{source}: not YAML: {exc}") from exc
    shape = jsonschema.Draft202012Validator(REGISTRY_FORMAT)
    problems = [f"{_where(e.absolute_path)}: {e.message}" for e in shape.iter_errors(data)]
    if problems:
        raise RegistryError(f"{source}: invalid registry:\n" + "\n".join(sorted(problems)))

    plans, roles = frozenset(data["plans"]), frozenset(data["roles"])
    tools: dict[str, ToolSpec] = {}
    for name, entry in data["tools"].items():
        problems.extend(f"tools.{name}.{p}" for p in _inconsistencies(entry, plans, roles))
        if not problems:
            tools[name] = _spec(name, entry)
    if problems:
        raise RegistryError(f"{source}: invalid registry:\n" + "\n".join(problems))
    return Registry(MappingProxyType(tools), plans, roles)


def _inconsistencies(entry: Mapping[str, Any], plans: frozenset[str], roles: frozenset[str]) -> list[str]:
    problems: list[str] = []
    for key, known, values in (
        ("tiers", plans, entry["tiers"]),
        ("roles", roles, entry["roles"]),
        ("approval.plans", plans, entry.get("approval", {}).get("plans", [])),
    ):
        unknown = sorted(set(values) - known)
        if unknown:
            problems.append(f"{key}: unknown {unknown} (declared: {sorted(known)})")
    box = entry.get("time_boxed")
    if box and box["start_hour"] % 24 == box["end_hour"] % 24:
        problems.append("time_boxed: start_hour and end_hour are the same hour: an empty or full window")
    schema = entry["input_schema"]
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        problems.append(f"input_schema: not a JSON Schema: {exc.message}")
    if schema.get("type") != "object":
        problems.append("input_schema: must describe an object (`type: object`): arguments are named")
    return problems


def _spec(name: str, entry: Mapping[str, Any]) -> ToolSpec:
    box = entry.get("time_boxed")
    return ToolSpec(
        name=name,
        version=entry["version"],
        description=entry.get("description", ""),
        tiers=frozenset(entry["tiers"]),
        roles=frozenset(entry["roles"]),
        essential=entry["essential"],
        enabled=entry.get("enabled", True),
        deprecated=entry.get("deprecated"),
        rate_limit=RateLimit(**entry["rate_limit"]),
        cost=Cost(entry["cost"]["unit"], float(entry["cost"]["credits"])),
        approval_plans=frozenset(entry.get("approval", {}).get("plans", [])),
        time_box=TimeBox(box["start_hour"], box["end_hour"]) if box else None,
        allowed_domains=frozenset(d.lower() for d in entry.get("allowed_domains", [])),
        input_schema=entry["input_schema"],
    )


def _compile(schema: Mapping[str, Any]) -> Any:
    """A Draft 2020-12 validator tuned for the small flat objects tool arguments are, with the
    same errors and messages as stock jsonschema (a unit test compares the two):

    * `properties` reuses one child validator per subschema, where stock jsonschema builds a new
      one for every property of every call (most of its cost here);
    * JSON's types are told apart with `isinstance`, not through the type checker's registry
      (every keyword asks, several times per argument).
    """
    children: dict[int, Any] = {}

    def properties(validator: Any, props: Mapping[str, Any], instance: Any, _schema: Any) -> Iterator[Any]:
        if not isinstance(instance, dict):  # Draft 2020-12's "object"
            return
        for name, subschema in props.items():
            if name not in instance:
                continue
            child = children.get(id(subschema))
            if child is None:
                child = children[id(subschema)] = validator.evolve(schema=subschema)
            for error in child.iter_errors(instance[name]):
                error.path.appendleft(name)
                error.relative_schema_path.appendleft(name)  # the caller adds "properties"
                yield error

    cls = validators.extend(jsonschema.Draft202012Validator, {"properties": properties})
    registered = cls.is_type

    def is_type(self: Any, instance: Any, name: str) -> bool:
        test = _JSON_TYPES.get(name)
        return test(instance) if test is not None else bool(registered(self, instance, name))

    cls.is_type = is_type  # this class only, made by `extend` above: jsonschema's own are untouched
    return cls(schema)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


# Draft 2020-12's type tests: bool is no number, and a float without a fraction is an integer.
_JSON_TYPES: Final[Mapping[str, Callable[[Any], bool]]] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": _is_integer,
    "number": lambda v: isinstance(v, numbers.Number) and not isinstance(v, bool),
}


def _where(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top level)"
