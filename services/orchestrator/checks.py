"""Output checks: a task's result is accepted only if it has the shape its kind promises."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from contracts.work import PlanOutput, ReportOutput, SearchOutput, SynthesiseOutput

OUTPUTS: dict[str, type[BaseModel]] = {
    "plan": PlanOutput,
    "search": SearchOutput,
    "synthesise": SynthesiseOutput,
    "report": ReportOutput,
}


def output_problem(kind: str, output: dict[str, Any]) -> str | None:
    """Why `output` is not acceptable for a task of `kind`, or None when it is."""
    try:
        parsed = OUTPUTS[kind].model_validate(output)
    except ValidationError as exc:
        return f"{kind} output failed its check: {exc.error_count()} error(s): {exc.errors()[0]['msg']}"
    if isinstance(parsed, SynthesiseOutput):
        numbers = {s.number for s in parsed.draft.sources}
        claims = [*parsed.draft.summary, *(c for s in parsed.draft.sections for c in s.claims)]
        dangling = sorted({n for c in claims for n in c.citations} - numbers)
        if dangling:
            return f"synthesise output cites sources that are not listed: {dangling}"
    return None
