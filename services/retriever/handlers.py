"""The retriever's subscribers: search, fetch, read and index tasks on its lane, and tenant document uploads."""

from __future__ import annotations

import asyncio
import logging

from contracts import consumers, subjects
from contracts.document import DatasetDeleted, DocumentUploaded
from contracts.guardrail import GuardrailTrippedPayload
from contracts.task import TaskDispatched
from contracts.work import FetchInput, IndexInput, IndexOutput, ReadInput, SearchInput
from quarry_runtime.blobs import BlobStore
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.worker import TaskError, Usage, WorkResult, lane
from services.retriever.application.fetching import OffHost, fetch_batch
from services.retriever.application.memory import index_run
from services.retriever.application.reading import NotReadable, read_dataset
from services.retriever.application.recall import recall
from services.retriever.application.search import WebUnavailable, search_sources
from services.retriever.application.uploads import can_own, forget_dataset, index_upload, reject_upload
from services.retriever.index import SourceIndex
from services.retriever.parsing import ParserPool
from services.retriever.providers import SearchError
from services.retriever.tombstones import DeletedDatasets
from services.retriever.web.search import WebSearch

log = logging.getLogger(__name__)


async def execute(
    task: TaskDispatched, index: SourceIndex, memory: SourceIndex, web: WebSearch | None = None
) -> WorkResult:
    """Run one task of the retriever's lane."""
    match task.payload.kind:
        case "search":
            return await _search(task, index, web)
        case "fetch":
            return await _fetch(task, web)
        case "read":
            return await _read(task, index)
        case "index":
            return await _index(task, memory)
        case "recall":
            return await recall(task, memory)
        case kind:
            raise TaskError(f"the retriever does not do {kind!r} tasks")


async def _search(task: TaskDispatched, index: SourceIndex, web: WebSearch | None) -> WorkResult:
    """Search where the run asked (by default the shared corpus and the tenant's documents) for one sub-question."""
    inp = SearchInput.model_validate(task.payload.input)
    try:
        found = await search_sources(inp, task.tenant_id, index, web)
    except WebUnavailable as exc:
        raise TaskError(str(exc)) from exc
    except SearchError as exc:
        raise TaskError(str(exc), retryable=exc.retryable) from exc
    # Every call out is metered: searches (corpus and API alike) as search calls; pages are the fetch tasks'.
    searches = found.corpus_calls + (found.web.search_calls if found.web else 0)
    return WorkResult(output=found.output.model_dump(), usage=[Usage(tool="web_search", search_calls=searches)])


async def _fetch(task: TaskDispatched, web: WebSearch | None) -> WorkResult:
    """Fetch one host's pages, as policy allowed `fetch_url` for that host, and rank their passages."""
    if web is None:
        raise TaskError("the run asks for web pages and no web search API is configured on the retriever")
    try:
        fetched = await fetch_batch(FetchInput.model_validate(task.payload.input), web)
    except OffHost as exc:
        raise TaskError(str(exc)) from exc
    trips = []
    if fetched.injections:
        trips.append(
            GuardrailTrippedPayload(
                guardrail="prompt_injection", where="source", action="stripped", counts=dict(fetched.injections)
            )
        )
    usage = [Usage(tool="fetch_url", search_calls=fetched.fetches)]
    return WorkResult(output=fetched.output.model_dump(), usage=usage, trips=trips)


async def _read(task: TaskDispatched, index: SourceIndex) -> WorkResult:
    """Search one of the tenant's datasets (or all of them) for each sub-question, as policy allowed `read_dataset`."""
    try:
        output, queries = await read_dataset(ReadInput.model_validate(task.payload.input), task.tenant_id, index)
    except NotReadable as exc:
        raise TaskError(str(exc)) from exc
    return WorkResult(output=output.model_dump(), usage=[Usage(tool="read_dataset", search_calls=queries)])


async def _index(task: TaskDispatched, memory: SourceIndex) -> WorkResult:
    """Put a verified run's findings into its tenant's memory, replacing any earlier indexing of the run."""
    inp = IndexInput.model_validate(task.payload.input)
    if not can_own(task.tenant_id):
        raise TaskError("this tenant id cannot own memory")
    if not inp.run_id or (task.run_id is not None and inp.run_id != task.run_id):
        # The run id labels the memory that a redraft replaces, so a wrong one would clobber another run's.
        raise TaskError(f"the input's run id {inp.run_id!r} is not the task's run {task.run_id!r}")
    chunks = await asyncio.to_thread(index_run, memory, task.tenant_id, inp)
    log.info("indexed run %s into the memory of tenant %s: %d chunks", inp.run_id, task.tenant_id, chunks)
    return WorkResult(output=IndexOutput(chunks=chunks).model_dump(), usage=[Usage(tool="index_memory")])


def subscriptions(
    bus: Bus,
    index: SourceIndex,
    memory: SourceIndex,
    web: WebSearch | None = None,
    blobs: BlobStore | None = None,
    deleted: DeletedDatasets | None = None,
    *,
    parsers: ParserPool,
) -> list[Subscription]:
    async def run(task: TaskDispatched) -> WorkResult:
        return await execute(task, index, memory, web)

    async def on_uploaded(ev: DocumentUploaded) -> None:
        """Index an uploaded document into its tenant's corpus, or say why not."""
        await index_upload(ev, bus, index, blobs, deleted, parsers=parsers)

    async def on_upload_given_up(ev: DocumentUploaded, reason: str) -> None:
        # It kept failing, or killed the processes that read it: the dataset shows why, not "extracting".
        await reject_upload(ev, bus, reason)

    async def on_dataset_deleted(ev: DatasetDeleted) -> None:
        """Drop a deleted dataset's chunks from the index and its files from the object store."""
        await forget_dataset(ev, index, blobs, deleted)

    return [
        lane(bus, "retriever", run),
        Subscription(
            subjects.DOCUMENT_UPLOADED,
            consumers.durable("retriever", subjects.DOCUMENT_UPLOADED),
            on_uploaded,
            on_give_up=on_upload_given_up,
        ),
        Subscription(
            subjects.DATASET_DELETED, consumers.durable("retriever", subjects.DATASET_DELETED), on_dataset_deleted
        ),
    ]
