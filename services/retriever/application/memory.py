"""The tenant's memory: findings of finished runs, kept apart from sources so no run cites Quarry itself."""

from __future__ import annotations

from qdrant_client import QdrantClient

from contracts.work import IndexInput, Passage
from services.retriever.domain.chunking import Chunk, chunk_document
from services.retriever.index import SourceIndex, collection_for
from services.retriever.translate import memory_documents

MEMORY_COLLECTION = collection_for(None, "memory")
"""Versioned like the sources: memory indexed under another text analysis stays in its own collection."""
RUN_LABEL = "run_id"
"""Payload field naming the run a memory chunk came from, so one run's findings can be searched or replaced."""


def memory_index(client: QdrantClient, *, tenant_scoped_idf: bool = True) -> SourceIndex:
    """The memory collection on a client the caller shares with the sources index (and closes)."""
    # Same sparse BM25/IDF set-up as the sources, so memory hits score like source hits.
    return SourceIndex(
        client,
        collection=MEMORY_COLLECTION,
        tenant_scoped_idf=tenant_scoped_idf,
        label_fields=(RUN_LABEL,),
    )


def memory_chunks(inp: IndexInput) -> list[Chunk]:
    return [chunk for document in memory_documents(inp) for chunk in chunk_document(document)]


def index_run(memory: SourceIndex, tenant_id: str, inp: IndexInput) -> int:
    """Make the run's findings the whole of its memory; returns the chunks written.

    Upsert first, then drop whatever of the run is not among the new chunks: re-indexing the same
    draft rewrites the same ids, a shorter redraft loses its extra sections, and a crash part-way
    leaves the run's old memory in place rather than none, to be tidied by the retry.
    """
    if not inp.run_id:
        raise ValueError("run_id must not be empty")
    return memory.replace_labelled(tenant_id, {RUN_LABEL: inp.run_id}, memory_chunks(inp))


def search_memory(
    memory: SourceIndex, query: str, tenant_id: str, run_id: str | None = None, limit: int = 10
) -> list[Passage]:
    """The tenant's remembered findings that best match `query`, only one run's when `run_id` is given."""
    labels = {RUN_LABEL: run_id} if run_id is not None else None
    return memory.search(query, [tenant_id], limit, labels)
