"""The retriever's memory: a verified run's findings indexed per tenant, apart from the sources."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient, models

from contracts.task import TaskDispatched, TaskDispatchedPayload, TaskKind
from contracts.work import Claim, Draft, IndexInput, IndexOutput, SearchInput, SearchOutput, Section, SourceRef
from quarry_runtime.worker import TaskError
from services.retriever.application.memory import (
    MEMORY_COLLECTION,
    index_run,
    memory_index,
    search_memory,
)
from services.retriever.bootstrap import RetrieverSettings, build
from services.retriever.domain.chunking import Chunk, chunk_document
from services.retriever.domain.corpus import Document, sample_corpus
from services.retriever.handlers import execute
from services.retriever.index import (
    COLLECTION,
    PUBLIC_TENANT,
    SourceIndex,
    client_lock,
    close_client,
    ingest_documents,
    open_client,
)
from services.retriever.translate import memory_documents

RUN = "run-0001"

# --- a draft built by hand from the sample corpus -----------------------------------------------


@pytest.fixture(scope="module")
def sources() -> list[Document]:
    wanted = {"pydoc:topic:with", "pydoc:module:heapq", "pydoc:module:json"}
    return [d for d in sample_corpus(("heapq", "json")) if d.doc_id in wanted]


def _ref(number: int, chunk: Chunk) -> SourceRef:
    return SourceRef(
        number=number, source_id=chunk.doc_id, title=chunk.title, location=chunk.location, passage=chunk.text
    )


def _draft(sources: list[Document], *, short: bool = False) -> Draft:
    """Cited passages are real chunks of the corpus; the claims paraphrase them as an analyst would."""
    by_id = {d.doc_id: chunk_document(d) for d in sources}
    with_, heapq, json_ = by_id["pydoc:topic:with"], by_id["pydoc:module:heapq"], by_id["pydoc:module:json"]
    refs = [_ref(1, with_[0]), _ref(2, heapq[0]), _ref(3, heapq[1]), _ref(4, json_[0])]
    sections = [
        Section(
            heading="Context managers",
            claims=[
                Claim(
                    text="The with statement wraps the execution of a block with methods defined by a "
                    "context manager, so common try/except/finally usage patterns can be encapsulated.",
                    citations=[1],
                ),
                Claim(
                    text="The context manager's __enter__ method is called before the suite runs and "
                    "__exit__ afterwards, even when the suite raises an exception.",
                    citations=[1, 1],
                ),
            ],
        ),
        Section(
            heading="Priority queues",
            claims=[
                Claim(
                    text="heapq keeps a list as a binary heap in which a[k] <= a[2*k+1] and a[k] <= a[2*k+2], "
                    "so heap[0] is always the smallest item.",
                    citations=[2],
                ),
                *(
                    Claim(
                        text=f"Observation {i}: heappush and heappop keep the heap invariant while adding "
                        "or removing items, and heapify turns a list into a heap in linear time.",
                        citations=[2, 3],
                    )
                    for i in range(12)  # long enough that this section takes several chunks
                ),
            ],
        ),
        Section(
            heading="Serialising data",
            claims=[
                Claim(
                    text="The json module encodes Python object hierarchies as JSON text with dumps and "
                    "decodes JSON documents with loads.",
                    citations=[4],
                )
            ],
        ),
        Section(heading="Open questions", claims=[]),
    ]
    if short:
        sections = [sections[0]]
    return Draft(
        title="Python's standard tools for resources and data",
        question="How does Python manage resources and data structures?",
        summary=[
            Claim(text="Context managers pair set-up with clean-up around a block.", citations=[1]),
            Claim(text="The heapq module provides a priority queue on plain lists.", citations=[2]),
        ],
        sections=sections,
        sources=refs if not short else refs[:2],
    )


def _input(sources: list[Document], run_id: str = RUN, *, short: bool = False) -> IndexInput:
    draft = _draft(sources, short=short)
    return IndexInput(run_id=run_id, question=draft.question, draft=draft)


@pytest.fixture
def client() -> Iterator[QdrantClient]:
    client = QdrantClient(":memory:")
    yield client
    close_client(client)


@pytest.fixture
def indexes(client: QdrantClient, sources: list[Document]) -> tuple[SourceIndex, SourceIndex]:
    """The sources (the public corpus plus a tenant upload) and an empty memory, on one client."""
    index, memory = SourceIndex(client), memory_index(client)
    index.ensure_collection()
    memory.ensure_collection()
    ingest_documents(index, sources, PUBLIC_TENANT)
    ingest_documents(index, [Document("upload-1", "Team notes", "Our heaps are priority queues.")], "t")
    return index, memory


def _memory_docs(memory: SourceIndex, tenant_id: str) -> set[str]:
    points, _ = memory.client.scroll(
        MEMORY_COLLECTION,
        scroll_filter=models.Filter(
            must=[models.FieldCondition(key="tenant_id", match=models.MatchValue(value=tenant_id))]
        ),
        limit=1000,
        with_payload=True,
    )
    return {str((p.payload or {})["doc_id"]) for p in points}


# --- documents ----------------------------------------------------------------------------------


def test_memory_documents_trace_each_finding_to_its_sources(sources: list[Document]) -> None:
    inp = _input(sources)
    documents = memory_documents(inp)
    assert documents == memory_documents(inp)  # pure
    # summary first, then the sections; the empty "Open questions" section (n = 4) is left out
    assert [d.doc_id for d in documents] == [f"run:{RUN}:{n}" for n in range(4)]
    assert [d.title for d in documents] == [
        "Python's standard tools for resources and data — Summary",
        "Python's standard tools for resources and data — Context managers",
        "Python's standard tools for resources and data — Priority queues",
        "Python's standard tools for resources and data — Serialising data",
    ]
    context = documents[1].text
    assert context.startswith("Question: How does Python manage resources and data structures?")
    assert "even when the suite raises an exception. [1]\n" in context  # a repeated citation is marked once
    assert context.endswith('Sources:\n[1] Python reference: with, § The "with" statement, part 1 (pydoc:topic:with)')
    heaps = documents[2].text
    assert "so heap[0] is always the smallest item. [2]" in heaps
    assert "in linear time. [2][3]" in heaps
    sources_block = heaps.split("Sources:\n")[1].splitlines()
    assert [line[:3] for line in sources_block] == ["[2]", "[3]"]  # only what this section cites
    assert all("pydoc:module:heapq" in line for line in sources_block)
    assert "pydoc:module:json" in documents[3].text and "pydoc:module:json" not in heaps


# --- indexing -----------------------------------------------------------------------------------


def test_indexing_a_run_fills_only_that_tenants_memory(
    indexes: tuple[SourceIndex, SourceIndex], sources: list[Document]
) -> None:
    index, memory = indexes
    public_before, tenant_before = index.count(PUBLIC_TENANT), index.count("t")
    inp = _input(sources)
    chunks = index_run(memory, "t", inp)
    expected = sum(len(chunk_document(d)) for d in memory_documents(inp))
    assert chunks == expected > len(memory_documents(inp))  # the long section takes several chunks
    assert memory.count("t") == chunks
    assert memory.count("t", {"run_id": RUN}) == chunks
    assert memory.count("u") == 0 and memory.count(PUBLIC_TENANT) == 0
    # the sources are untouched, and a run never finds Quarry's own findings among them
    assert (index.count(PUBLIC_TENANT), index.count("t")) == (public_before, tenant_before)
    hits = index.search("heappush heappop heap invariant linear time", ["t", PUBLIC_TENANT], 20)
    assert hits and not any(p.source_id.startswith("run:") for p in hits)
    assert {c.name for c in memory.client.get_collections().collections} == {COLLECTION, MEMORY_COLLECTION}


def test_re_indexing_the_same_run_is_idempotent(
    indexes: tuple[SourceIndex, SourceIndex], sources: list[Document]
) -> None:
    _, memory = indexes
    first = index_run(memory, "t", _input(sources))
    assert index_run(memory, "t", _input(sources)) == first
    assert memory.count("t") == first


def test_a_shorter_redraft_leaves_nothing_stale(
    indexes: tuple[SourceIndex, SourceIndex], sources: list[Document]
) -> None:
    _, memory = indexes
    index_run(memory, "t", _input(sources, "run-other"))
    other = memory.count("t", {"run_id": "run-other"})
    index_run(memory, "t", _input(sources))
    shorter = index_run(memory, "t", _input(sources, short=True))
    assert shorter == sum(len(chunk_document(d)) for d in memory_documents(_input(sources, short=True)))
    assert memory.count("t", {"run_id": RUN}) == shorter
    assert _memory_docs(memory, "t") == {f"run:{RUN}:0", f"run:{RUN}:1"} | {f"run:run-other:{n}" for n in range(4)}
    assert search_memory(memory, "json dumps loads", "t", RUN, 5) == []
    assert memory.count("t", {"run_id": "run-other"}) == other  # another run of the tenant is kept
    # a draft with nothing left to remember clears the run
    empty = _input(sources, short=True)
    empty = empty.model_copy(update={"draft": empty.draft.model_copy(update={"summary": [], "sections": []})})
    assert index_run(memory, "t", empty) == 0
    assert memory.count("t", {"run_id": RUN}) == 0


def test_a_crash_mid_reindex_keeps_the_old_memory_and_the_retry_converges(
    indexes: tuple[SourceIndex, SourceIndex], sources: list[Document], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, memory = indexes
    index_run(memory, "t", _input(sources))
    before = memory.count("t")

    def crash(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("qdrant went away")

    monkeypatch.setattr(memory.client, "delete", crash)
    with pytest.raises(ConnectionError):
        index_run(memory, "t", _input(sources, short=True))
    assert memory.count("t") == before  # new chunks written over old ones, nothing lost
    assert search_memory(memory, "json dumps loads", "t", RUN, 5)
    monkeypatch.undo()
    shorter = index_run(memory, "t", _input(sources, short=True))
    assert memory.count("t") == shorter < before


def test_labels_are_declared_and_never_overwrite_chunk_fields(
    indexes: tuple[SourceIndex, SourceIndex], sources: list[Document]
) -> None:
    index, memory = indexes
    chunk = Chunk(doc_id="d", title="T", location="part 1", text="text", index=0)
    with pytest.raises(ValueError, match="not declared"):
        index.add([chunk], "t", {"run_id": RUN})  # the sources collection has no run labels
    with pytest.raises(ValueError, match="overwrite"):
        SourceIndex(memory.client, label_fields=("tenant_id",))
    with pytest.raises(ValueError, match="must not be empty"):
        memory.replace_labelled("t", {}, [chunk])
    with pytest.raises(ValueError):
        index_run(memory, "t", _input(sources, run_id=""))


# --- searching memory ---------------------------------------------------------------------------


def test_search_memory_finds_the_runs_findings_within_its_tenant(
    indexes: tuple[SourceIndex, SourceIndex], sources: list[Document]
) -> None:
    index, memory = indexes
    index_run(memory, "t", _input(sources))
    index_run(memory, "t", _input(sources, "run-0002", short=True))
    index_run(memory, "u", _input(sources, "run-of-u"))
    query = "how does the with statement call __enter__ and __exit__"
    [best, *_] = search_memory(memory, query, "t", limit=5)
    assert best.source_id.startswith("run:") and best.title.endswith("— Context managers")
    assert "(pydoc:topic:with)" in best.text  # traceable to the source it summarises
    runs = {p.source_id.split(":")[1] for p in search_memory(memory, query, "t", limit=20)}
    assert runs == {RUN, "run-0002"}  # never the other tenant's run
    assert {p.source_id.split(":")[1] for p in search_memory(memory, query, "t", "run-0002", 20)} == {"run-0002"}
    assert search_memory(memory, query, "t", "run-of-u", 20) == []
    assert search_memory(memory, query, "nobody", limit=5) == []
    json_hits = search_memory(memory, "json dumps loads", "t", RUN, 3)
    assert json_hits[0].source_id == f"run:{RUN}:3"
    assert search_memory(memory, "json dumps loads", "t", "run-0002", 3) == []  # dropped from the short draft
    assert all(not p.source_id.startswith("run:") for p in index.search(query, ["t", PUBLIC_TENANT], 20))


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
        return index_run(memory, "t", _input(sources, f"run-{n}"))

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
        assert {c.name for c in client.get_collections().collections} == {COLLECTION, MEMORY_COLLECTION}
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
    sources_before = index.count("t")
    inp = _input(sources)
    result = await execute(_task("index", inp.model_dump()), index, memory)
    output = IndexOutput.model_validate(result.output)
    assert output.chunks == memory.count("t", {"run_id": RUN}) > 0
    assert [u.tool for u in result.usage] == ["index_memory"]
    assert index.count("t") == sources_before
    again = await execute(_task("index", inp.model_dump()), index, memory)  # a redelivered task
    assert again.output == result.output and memory.count("t") == output.chunks


async def test_execute_still_searches_and_refuses_what_it_cannot_do(
    indexes: tuple[SourceIndex, SourceIndex], sources: list[Document]
) -> None:
    index, memory = indexes
    inp = _input(sources)
    search = SearchInput(question="priority queues", sub_question="how does heapq order items", limit=3)
    result = await execute(_task("search", search.model_dump()), index, memory)
    found = SearchOutput.model_validate(result.output)
    assert found.passages and found.passages[0].source_id == "pydoc:module:heapq"
    assert [u.tool for u in result.usage] == ["web_search"]
    with pytest.raises(TaskError, match="run"):
        await execute(_task("index", inp.model_dump(), run_id="run-9999"), index, memory)
    with pytest.raises(TaskError, match="cannot own"):
        await execute(_task("index", inp.model_dump(), tenant_id=PUBLIC_TENANT), index, memory)
    with pytest.raises(TaskError, match="'plan'"):
        await execute(_task("plan", {}), index, memory)
    assert memory.count("t") == 0 and memory.count(PUBLIC_TENANT) == 0
