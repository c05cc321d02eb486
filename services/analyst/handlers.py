"""The analyst's lane: plan sub-questions and synthesise cited drafts (offline by default)."""

from __future__ import annotations

import asyncio

from contracts.task import TaskDispatched
from contracts.work import PlanInput, SynthesiseInput
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.worker import TaskError, Usage, WorkResult, lane
from services.analyst.planning import plan
from services.analyst.synthesis import check_citations, synthesise


async def execute(task: TaskDispatched) -> WorkResult:
    """Run one analyst task; CPU-bound work goes to a thread so the consumer keeps heartbeating."""
    kind = task.payload.kind
    if kind == "plan":
        planned = await asyncio.to_thread(plan, PlanInput.model_validate(task.payload.input))
        return WorkResult(output=planned.model_dump(), usage=[Usage(tool="llm_generate")])
    if kind == "synthesise":
        result = await asyncio.to_thread(synthesise, SynthesiseInput.model_validate(task.payload.input))
        problems = check_citations(result.draft)
        if problems:
            raise TaskError("synthesis produced unsupported citations: " + "; ".join(problems[:3]))
        return WorkResult(output=result.model_dump(), usage=[Usage(tool="llm_generate")])
    raise TaskError(f"the analyst does not do {kind!r} tasks")


def subscriptions(bus: Bus) -> list[Subscription]:
    return [lane(bus, "analyst", execute)]
