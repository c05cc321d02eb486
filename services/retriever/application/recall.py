"""Recall for a follow-up question: the tenant's memory, only the run's part of it when asked."""

from __future__ import annotations

import asyncio

from contracts.question import RECALL_TOOL, RecallInput, RecallOutput
from contracts.task import TaskDispatched
from quarry_runtime.worker import Usage, WorkResult
from services.retriever.application.memory import search_memory
from services.retriever.index import SourceIndex


async def recall(task: TaskDispatched, memory: SourceIndex) -> WorkResult:
    """Search the memory of the task's own tenant (never one named in the input) for the question."""
    inp = RecallInput.model_validate(task.payload.input)
    passages = await asyncio.to_thread(search_memory, memory, inp.question, task.tenant_id, inp.run_id, inp.limit)
    searches = 1
    if not passages and inp.fallback:
        # A terse follow-up ("and the drawbacks?") shares no term with what was found; the run's own
        # question does, and the question is about that run.
        query = f"{inp.question} {inp.fallback}"
        passages = await asyncio.to_thread(search_memory, memory, query, task.tenant_id, inp.run_id, inp.limit)
        searches += 1
    output = RecallOutput(passages=passages)
    return WorkResult(output=output.model_dump(), usage=[Usage(tool=RECALL_TOOL, search_calls=searches)])
