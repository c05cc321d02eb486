"""The policy service's metrics: tool requests decided, by outcome and tool.

The tool label takes the registry's closed set of tool names; a request for any other tool (one
an agent made up, which policy denies) counts under `other`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from contracts.tool import Decision, ToolDecidedPayload
from quarry_runtime.metrics import Bounded, counter

DECISIONS = counter("quarry_policy_decisions", "Tool requests decided, by outcome and tool", ("outcome", "tool"))


class DecisionMeter:
    """Counts each decision published."""

    def __init__(self, tools: Iterable[str]) -> None:
        self._tool = Bounded(tools)
        self._outcome = Bounded(get_args(Decision))

    def __call__(self, decided: ToolDecidedPayload) -> None:
        DECISIONS.labels(self._outcome(decided.decision), self._tool(decided.tool)).inc()
