"""The retriever's memory: a verified run's findings indexed per tenant, apart from the sources."""

from __future__ import annotations

from typing import Any

import pytest

from services.retriever.application.memory import MEMORY_COLLECTION, index_run, search_memory
from services.retriever.domain.chunking import Chunk, chunk_document
from services.retriever.domain.corpus import Document
from services.retriever.index import COLLECTION, PUBLIC_TENANT, SourceIndex
from services.retriever.translate import memory_documents
from tests.support.memory import RUN, client, index_input, indexes, memory_docs, sources

__all__ = ["client", "indexes", "sources"]  # fixtures

# --- documents ----------------------------------------------------------------------------------


def test_memory_documents_trace_each_finding_to_its_sources(sources: list[Document]) -> None:
    inp = index_input(sources)
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
    inp = index_input(sources)
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
    first = index_run(memory, "t", index_input(sources))
    assert index_run(memory, "t", index_input(sources)) == first
    assert memory.count("t") == first


def test_a_shorter_redraft_leaves_nothing_stale(
    indexes: tuple[SourceIndex, SourceIndex], sources: list[Document]
) -> None:
    _, memory = indexes
    index_run(memory, "t", index_input(sources, "run-other"))
    other = memory.count("t", {"run_id": "run-other"})
    index_run(memory, "t", index_input(sources))
    shorter = index_run(memory, "t", index_input(sources, short=True))
    assert shorter == sum(len(chunk_document(d)) for d in memory_documents(index_input(sources, short=True)))
    assert memory.count("t", {"run_id": RUN}) == shorter
    assert memory_docs(memory, "t") == {f"run:{RUN}:0", f"run:{RUN}:1"} | {f"run:run-other:{n}" for n in range(4)}
    assert search_memory(memory, "json dumps loads", "t", RUN, 5) == []
    assert memory.count("t", {"run_id": "run-other"}) == other  # another run of the tenant is kept
    # a draft with nothing left to remember clears the run
    empty = index_input(sources, short=True)
    empty = empty.model_copy(update={"draft": empty.draft.model_copy(update={"summary": [], "sections": []})})
    assert index_run(memory, "t", empty) == 0
    assert memory.count("t", {"run_id": RUN}) == 0


def test_a_crash_mid_reindex_keeps_the_old_memory_and_the_retry_converges(
    indexes: tuple[SourceIndex, SourceIndex], sources: list[Document], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, memory = indexes
    index_run(memory, "t", index_input(sources))
    before = memory.count("t")

    def crash(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("qdrant went away")

    monkeypatch.setattr(memory.client, "delete", crash)
    with pytest.raises(ConnectionError):
        index_run(memory, "t", index_input(sources, short=True))
    assert memory.count("t") == before  # new chunks written over old ones, nothing lost
    assert search_memory(memory, "json dumps loads", "t", RUN, 5)
    monkeypatch.undo()
    shorter = index_run(memory, "t", index_input(sources, short=True))
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
        index_run(memory, "t", index_input(sources, run_id=""))


# --- searching memory ---------------------------------------------------------------------------


def test_search_memory_finds_the_runs_findings_within_its_tenant(
    indexes: tuple[SourceIndex, SourceIndex], sources: list[Document]
) -> None:
    index, memory = indexes
    index_run(memory, "t", index_input(sources))
    index_run(memory, "t", index_input(sources, "run-0002", short=True))
    index_run(memory, "u", index_input(sources, "run-of-u"))
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
