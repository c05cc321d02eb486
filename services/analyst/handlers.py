"""The analyst's lane: plan sub-questions and synthesise cited drafts (offline by default)."""

from __future__ import annotations

import asyncio
import functools

from contracts.task import TaskDispatched
from contracts.work import PlanInput, SynthesiseInput
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.worker import TaskError, Usage, WorkResult, lane
from services.analyst.live import plan_live
from services.analyst.llm import ChatClient
from services.analyst.planning import plan
from services.analyst.synthesis import check_citations, synthesise


async def execute(task: TaskDispatched, llm: ChatClient | None = None) -> WorkResult:
    """Run one analyst task: plans come from `llm` when given (live mode), else from the rules.

    CPU-bound work goes to a thread so the consumer keeps heartbeating. Synthesis is extractive
    in both modes (see `services.analyst.live`).
    """
    kind = task.payload.kind
    if kind == "plan":
        inp = PlanInput.model_validate(task.payload.input)
        if llm is not None:
            planned, completion = await plan_live(llm, inp)
            usage = Usage(tool="llm_generate", tokens_in=completion.tokens_in, tokens_out=completion.tokens_out)
            return WorkResult(output=planned.model_dump(), usage=[usage])
        planned = await asyncio.to_thread(plan, inp)
        return WorkResult(output=planned.model_dump(), usage=[Usage(tool="llm_generate")])
    if kind == "synthesise":
        result = await asyncio.to_thread(synthesise, SynthesiseInput.model_validate(task.payload.input))
        problems = check_citations(result.draft)
        if problems:
            raise TaskError("synthesis produced unsupported citations: " + "; ".join(problems[:3]))
        return WorkResult(output=result.model_dump(), usage=[Usage(tool="llm_generate")])
    raise TaskError(f"the analyst does not do {kind!r} tasks")


def subscriptions(bus: Bus, llm: ChatClient | None) -> list[Subscription]:
    return [lane(bus, "analyst", functools.partial(execute, llm=llm))]
