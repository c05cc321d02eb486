"""Reading an agent configuration's parameters (`contracts.agents.AgentConfig.parameters`).

`flag`, `whole` and `number` read one knob each: absent (or null), the caller's default; of the
wrong type or out of its range, `BadParameter`, which a worker turns into a non-retryable failure
(the version is immutable: another attempt would read the same). Parameters nobody reads are
ignored, so a configuration may carry knobs only a later worker understands.
"""

from __future__ import annotations

from typing import TypeVar

from contracts.agents import AgentConfig

D = TypeVar("D", int, float, None)


class BadParameter(ValueError):
    """A known parameter of the wrong type or out of its range."""


def flag(config: AgentConfig | None, name: str, default: bool) -> bool:
    """Parameter `name` as true or false; `default` when absent."""
    value = _given(config, name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadParameter(f"parameter {name!r} must be true or false, not {value!r}")
    return value


def whole(config: AgentConfig | None, name: str, default: D, low: int, high: int) -> int | D:
    """Parameter `name` as a whole number in [low, high]; `default` when absent."""
    value = _in_range(config, name, low, high, f"a whole number in [{low}, {high}]", whole_only=True)
    return default if value is None else int(value)


def number(config: AgentConfig | None, name: str, default: D, low: float, high: float) -> float | D:
    """Parameter `name` as a number in [low, high]; `default` when absent."""
    value = _in_range(config, name, low, high, f"a number in [{low:g}, {high:g}]", whole_only=False)
    return default if value is None else float(value)


def _in_range(
    config: AgentConfig | None, name: str, low: float, high: float, what: str, *, whole_only: bool
) -> int | float | None:
    value = _given(config, name)
    if value is None:
        return None
    if (
        isinstance(value, bool)  # an int to Python, never a number to a configuration's author
        or not isinstance(value, int | float)
        or (whole_only and not isinstance(value, int))
        or not low <= value <= high
    ):
        raise BadParameter(f"parameter {name!r} must be {what}, not {value!r}")
    return value


def _given(config: AgentConfig | None, name: str) -> object:
    return None if config is None else config.parameters.get(name)
