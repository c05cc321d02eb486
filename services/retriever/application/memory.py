"""The tenant's memory: findings of finished runs, kept apart from sources so no run cites Quarry itself."""

from __future__ import annotations

from qdrant_client import QdrantClient

from contracts.work import Claim, Draft, IndexInput, Passage, SourceRef
from services.retriever.domain.chunking import Chunk, chunk_document
from services.retriever.domain.corpus import Document
from services.retriever.index import SourceIndex

MEMORY_COLLECTION = "memory"
RUN_LABEL = "run_id"
"""Payload field naming the run a memory chunk came from, so one run's findings can be searched or replaced."""
SUMMARY_HEADING = "Summary"


def memory_index(client: QdrantClient, *, tenant_scoped_idf: bool = True) -> SourceIndex:
    """The memory collection on a client the caller shares with the sources index (and closes)."""
    # Same sparse BM25/IDF set-up as the sources, so memory hits score like source hits.
    return SourceIndex(
        client, collection=MEMORY_COLLECTION, tenant_scoped_idf=tenant_scoped_idf, label_fields=(RUN_LABEL,)
    )


def memory_doc_id(run_id: str, n: int) -> str:
    return f"run:{run_id}:{n}"


def memory_documents(inp: IndexInput) -> list[Document]:
    """One document for the summary (n = 0) and one per section (n = 1, 2, ...); empty ones are left out."""
    draft = inp.draft
    parts = [(SUMMARY_HEADING, draft.summary), *((section.heading, section.claims) for section in draft.sections)]
    documents: list[Document] = []
    for n, (heading, claims) in enumerate(parts):
        if not claims:
            continue
        documents.append(
            Document(
                doc_id=memory_doc_id(inp.run_id, n),
                title=f"{draft.title} — {heading}",
                text=_text(inp.question, claims, draft),
            )
        )
    return documents


def _text(question: str, claims: list[Claim], draft: Draft) -> str:
    # Each claim is a paragraph of its own, so a long section chunks between claims, never inside one.
    paragraphs = [f"Question: {question}"]
    paragraphs += [f"{claim.text} {_markers(claim)}" for claim in claims]
    sources = _cited_sources(claims, draft.sources)
    if sources:
        # One paragraph, so the list stays together and a hit on it names where each finding came from.
        lines = [f"[{s.number}] {s.title}, {s.location} ({s.source_id})" for s in sources]
        paragraphs.append("\n".join(["Sources:", *lines]))
    return "\n\n".join(paragraphs)


def _markers(claim: Claim) -> str:
    return "".join(f"[{number}]" for number in dict.fromkeys(claim.citations))


def _cited_sources(claims: list[Claim], sources: list[SourceRef]) -> list[SourceRef]:
    cited = {number for claim in claims for number in claim.citations}
    # A number with no source behind it keeps its marker but has nothing to list; verification reports it.
    return sorted((s for s in sources if s.number in cited), key=lambda s: s.number)


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
