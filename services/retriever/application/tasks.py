"""The retriever's lane: search, fetch, read, index and recall tasks, each one use case."""

from __future__ import annotations

import asyncio
import logging

from contracts.guardrail import GuardrailTrippedPayload
from contracts.task import TaskDispatched
from contracts.work import FetchInput, IndexInput, IndexOutput, ReadInput, SearchInput
from quarry_runtime.worker import Usage, WorkResult
from services.retriever.application.fetching import fetch_batch
from services.retriever.application.memory import index_run
from services.retriever.application.reading import read_dataset
from services.retriever.application.recall import recall
from services.retriever.application.search import search_sources
from services.retriever.application.uploads import can_own
from services.retriever.domain.errors import Refused
from services.retriever.domain.ranking import BUILT_IN, Ranking
from services.retriever.index import SourceIndex
from services.retriever.web.search import WebSearch

log = logging.getLogger(__name__)


async def execute(
    task: TaskDispatched,
    index: SourceIndex,
    memory: SourceIndex,
    web: WebSearch | None = None,
    ranking: Ranking | None = None,
) -> WorkResult:
    """Run one task of the retriever's lane, searches ranked by `ranking` (None: the built-in
    ranking); `Refused` when it cannot be done as asked."""
    match task.payload.kind:
        case "search":
            return await search(task, index, web, ranking)
        case "fetch":
            return await fetch(task, web, ranking or BUILT_IN)
        case "read":
            return await read(task, index, ranking)
        case "index":
            return await index_run_findings(task, memory)
        case "recall":
            return await recall(task, memory)
        case kind:
            raise Refused(f"the retriever does not do {kind!r} tasks")


async def search(
    task: TaskDispatched, index: SourceIndex, web: WebSearch | None, ranking: Ranking | None = None
) -> WorkResult:
    """Search where the run asked (by default the shared corpus and the tenant's documents) for one sub-question."""
    inp = SearchInput.model_validate(task.payload.input)
    found = await search_sources(inp, task.tenant_id, index, web, ranking)
    # Every call out is metered: searches (corpus and API alike) as search calls; pages are the fetch tasks'.
    searches = found.corpus_calls + (found.web.search_calls if found.web else 0)
    return WorkResult(output=found.output.model_dump(), usage=[Usage(tool="web_search", search_calls=searches)])


async def fetch(task: TaskDispatched, web: WebSearch | None, ranking: Ranking = BUILT_IN) -> WorkResult:
    """Fetch one host's pages, as policy allowed `fetch_url` for that host, and rank their passages."""
    if web is None:
        raise Refused("the run asks for web pages and no web search API is configured on the retriever")
    fetched = await fetch_batch(FetchInput.model_validate(task.payload.input), web, ranking)
    trips = []
    if fetched.injections:
        trips.append(
            GuardrailTrippedPayload(
                guardrail="prompt_injection", where="source", action="stripped", counts=dict(fetched.injections)
            )
        )
    usage = [Usage(tool="fetch_url", search_calls=fetched.fetches)]
    return WorkResult(output=fetched.output.model_dump(), usage=usage, trips=trips)


async def read(task: TaskDispatched, index: SourceIndex, ranking: Ranking | None = None) -> WorkResult:
    """Search one of the tenant's datasets (or all of them) for each sub-question, as policy allowed `read_dataset`."""
    output, queries = await read_dataset(ReadInput.model_validate(task.payload.input), task.tenant_id, index, ranking)
    return WorkResult(output=output.model_dump(), usage=[Usage(tool="read_dataset", search_calls=queries)])


async def index_run_findings(task: TaskDispatched, memory: SourceIndex) -> WorkResult:
    """Put a verified run's findings into its tenant's memory, replacing any earlier indexing of the run."""
    inp = IndexInput.model_validate(task.payload.input)
    if not can_own(task.tenant_id):
        raise Refused("this tenant id cannot own memory")
    if not inp.run_id or (task.run_id is not None and inp.run_id != task.run_id):
        # The run id labels the memory that a redraft replaces, so a wrong one would clobber another run's.
        raise Refused(f"the input's run id {inp.run_id!r} is not the task's run {task.run_id!r}")
    chunks = await asyncio.to_thread(index_run, memory, task.tenant_id, inp)
    log.info("indexed run %s into the memory of tenant %s: %d chunks", inp.run_id, task.tenant_id, chunks)
    return WorkResult(output=IndexOutput(chunks=chunks).model_dump(), usage=[Usage(tool="index_memory")])
