"""The retriever's memory and sources on one local Qdrant client, and the lane's execute function
indexing a run and searching."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from contracts.task import TaskDispatched, TaskDispatchedPayload, TaskKind
from contracts.work import IndexOutput, SearchInput, SearchOutput
from quarry_runtime.worker import TaskError
from services.retriever.application.memory import MEMORY_COLLECTION, index_run, memory_index
from services.retriever.bootstrap import RetrieverSettings, build
from services.retriever.domain.corpus import Document
from services.retriever.handlers import Components, execute
from services.retriever.index import (
    PUBLIC_TENANT,
    SourceIndex,
    client_lock,
    close_client,
    collection_for,
    ingest_documents,
    open_client,
)
from services.retriever.parsing import ParserPool
from tests.support.memory import RUN, client, index_input, indexes, sources

__all__ = ["client", "indexes", "sources"]  # fixtures

# --- one local client for both collections ------------------------------------------------------


def test_both_indexes_share_one_local_client(tmp_path: Path, sources: list[Document]) -> None:
    path = tmp_path / "qdrant"
    client = open_client(path=path)
    with pytest.raises(RuntimeError, match="already accessed"):
        QdrantClient(path=str(path))  # why the collections cannot each open their own
    index, memory = SourceIndex(client), memory_index(client)
    assert index._lock is memory._lock is client_lock(client)  # one lock guards the one client
    index.ensure_collection()
    memory.ensure_collection()
    written = ingest_documents(index, sources, PUBLIC_TENANT)

    def index_runs(n: int) -> int:
        return index_run(memory, "t", index_input(sources, f"run-{n}"))

    def search(n: int) -> int:
        return len(index.search(f"heap queue item {n}", [PUBLIC_TENANT], 5))

    with ThreadPoolExecutor(max_workers=8) as pool:  # as the handlers' asyncio.to_thread would
        indexed = list(pool.map(index_runs, range(6)))
        found = list(pool.map(search, range(24)))
    assert all(found) and len(set(indexed)) == 1
    index.close()  # neither index owns the shared client, so this leaves it open
    memory.close()
    assert memory.count("t") == 6 * indexed[0]
    close_client(client)
    close_client(client)  # closing twice is harmless

    reopened = open_client(path=path)
    try:
        index, memory = SourceIndex(reopened), memory_index(reopened)
        assert index.count(PUBLIC_TENANT) == written
        assert memory.count("t", {"run_id": "run-3"}) == indexed[0]
    finally:
        close_client(reopened)


def test_bootstrap_opens_both_collections_and_closes_once(tmp_path: Path) -> None:
    settings = RetrieverSettings(data_dir=tmp_path, seed_corpus=False)
    service = build(settings)
    for close in service.on_stop:
        close()
    # the local directory is free again, with both collections in it
    client = open_client(path=tmp_path / "retriever" / "qdrant")
    try:
        assert {c.name for c in client.get_collections().collections} == {collection_for(None), MEMORY_COLLECTION}
    finally:
        close_client(client)
    for close in build(settings).on_stop:  # and a restart finds them as it left them
        close()


# --- the lane's execute function ----------------------------------------------------------------


def _task(kind: TaskKind, payload: dict[str, Any], run_id: str | None = RUN, tenant_id: str = "t") -> TaskDispatched:
    return TaskDispatched.create(
        TaskDispatchedPayload(task_id=f"task-{kind}", kind=kind, role="retriever", input=payload),
        tenant_id=tenant_id,
        run_id=run_id,
    )


async def test_execute_indexes_a_run_into_memory(
    indexes: tuple[SourceIndex, SourceIndex], sources: list[Document]
) -> None:
    index, memory = indexes
    lane = Components(index=index, memory=memory, parsers=ParserPool())
    sources_before = index.count("t")
    inp = index_input(sources)
    result = await execute(_task("index", inp.model_dump()), lane)
    output = IndexOutput.model_validate(result.output)
    assert output.chunks == memory.count("t", {"run_id": RUN}) > 0
    assert [u.tool for u in result.usage] == ["index_memory"]
    assert index.count("t") == sources_before
    again = await execute(_task("index", inp.model_dump()), lane)  # a redelivered task
    assert again.output == result.output and memory.count("t") == output.chunks


async def test_execute_still_searches_and_refuses_what_it_cannot_do(
    indexes: tuple[SourceIndex, SourceIndex], sources: list[Document]
) -> None:
    index, memory = indexes
    lane = Components(index=index, memory=memory, parsers=ParserPool())
    inp = index_input(sources)
    search = SearchInput(question="priority queues", sub_question="how does heapq order items", limit=3)
    result = await execute(_task("search", search.model_dump()), lane)
    found = SearchOutput.model_validate(result.output)
    assert found.passages and found.passages[0].source_id == "pydoc:module:heapq"
    assert [u.tool for u in result.usage] == ["web_search"]
    with pytest.raises(TaskError, match="run"):
        await execute(_task("index", inp.model_dump(), run_id="run-9999"), lane)
    with pytest.raises(TaskError, match="cannot own"):
        await execute(_task("index", inp.model_dump(), tenant_id=PUBLIC_TENANT), lane)
    with pytest.raises(TaskError, match="'plan'"):
        await execute(_task("plan", {}), lane)
    assert memory.count("t") == 0 and memory.count(PUBLIC_TENANT) == 0
