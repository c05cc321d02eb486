"""The retriever's sample corpus, indexed once per module, and made-up uploads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient

from services.retriever.domain.corpus import Document, sample_corpus
from services.retriever.index import PUBLIC_TENANT, SourceIndex, ingest_documents


@pytest.fixture(scope="module")
def corpus() -> list[Document]:
    return sample_corpus()


@pytest.fixture(scope="module")
def public_index(corpus: list[Document]) -> Iterator[SourceIndex]:
    """The whole sample corpus under the public tenant, in memory (well under a second to build)."""
    index = SourceIndex(QdrantClient(":memory:"))
    index.ensure_collection()
    ingest_documents(index, corpus, PUBLIC_TENANT)
    yield index
    index.close()


def uploaded_document(doc_id: str, text: str, title: str = "Uploaded") -> Document:
    return Document(doc_id=doc_id, title=title, text=text, content_type="text/plain")


def filler_sentences(n: int, word: str = "lorem") -> str:
    return " ".join(f"Sentence {i} says {word} ipsum dolor sit amet for testing." for i in range(n))
