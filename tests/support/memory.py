"""A verified run's draft built by hand from the sample corpus, and the source and memory indexes
it is indexed into, on a Qdrant in memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient, models

from contracts.work import Claim, Draft, IndexInput, Section, SourceRef
from services.retriever.application.memory import MEMORY_COLLECTION, memory_index
from services.retriever.domain.chunking import Chunk, chunk_document
from services.retriever.domain.corpus import Document, sample_corpus
from services.retriever.index import PUBLIC_TENANT, SourceIndex, close_client, ingest_documents

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


def index_input(sources: list[Document], run_id: str = RUN, *, short: bool = False) -> IndexInput:
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


def memory_docs(memory: SourceIndex, tenant_id: str) -> set[str]:
    points, _ = memory.client.scroll(
        MEMORY_COLLECTION,
        scroll_filter=models.Filter(
            must=[models.FieldCondition(key="tenant_id", match=models.MatchValue(value=tenant_id))]
        ),
        limit=1000,
        with_payload=True,
    )
    return {str((p.payload or {})["doc_id"]) for p in points}
