"""Output checks: a task's result is accepted only if it has the shape its kind promises."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from contracts.work import (
    CollectOutput,
    FetchOutput,
    IndexOutput,
    PlanOutput,
    ReadOutput,
    ReportOutput,
    SearchOutput,
    SynthesiseOutput,
    VerifyOutput,
)

OUTPUTS: dict[str, type[BaseModel]] = {
    "plan": PlanOutput,
    "search": SearchOutput,
    "fetch": FetchOutput,
    "read": ReadOutput,
    "collect": CollectOutput,
    "synthesise": SynthesiseOutput,
    "verify": VerifyOutput,
    "index": IndexOutput,
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
    if isinstance(parsed, VerifyOutput) and (parsed.problems or parsed.support_rate < 1.0):
        first = "; ".join(parsed.problems[:2]) or "unsupported claims"
        return f"citations do not hold: support rate {parsed.support_rate:.2f}: {first}"
    return None
