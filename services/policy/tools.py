"""The registry of tools agents may ask for, each with the plan tier it needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

Tier = Literal["free", "pro"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A registered tool: its name as agents request it, and the tier policies gate it by."""

    name: str
    tier: Tier


def tool_table(*specs: ToolSpec) -> Mapping[str, ToolSpec]:
    """A read-only name -> spec table built from `specs`."""
    return MappingProxyType({spec.name: spec for spec in specs})


# Read-only so no caller can register a tool at runtime behind the policies' back.
TOOLS: Final[Mapping[str, ToolSpec]] = tool_table(
    ToolSpec("web_search", "free"),
    ToolSpec("llm_generate", "free"),
    ToolSpec("publish_report", "free"),
    ToolSpec("fetch_url", "pro"),
    ToolSpec("index_memory", "free"),
    ToolSpec("read_dataset", "pro"),
)
