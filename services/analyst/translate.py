"""Model calls -> the usage a task meters (tokens and the model that spent them)."""

from __future__ import annotations

from collections.abc import Sequence

from quarry_runtime.worker import Usage
from services.analyst.llm import Completion


def usage_of(tool: str, spent: Sequence[Completion], *, model: str | None = None) -> Usage:
    """The usage of a task's model calls: tokens summed, the last call's model (else `model`)."""
    return Usage(
        tool=tool,
        tokens_in=sum(c.tokens_in for c in spent),
        tokens_out=sum(c.tokens_out for c in spent),
        model=spent[-1].model if spent else model,
    )
