"""What the document routes answer."""

from __future__ import annotations

from pydantic import BaseModel

from contracts.numbers import Count
from services.gateway.api.models.datasets import DatasetPublic


class DocumentPublic(BaseModel):
    document_id: str
    title: str
    content_type: str
    status: str
    chunks: Count
    reason: str | None
    created_at: str


class DocumentListPublic(BaseModel):
    documents: list[DocumentPublic]


class DatasetDocumentPublic(BaseModel):
    """A dataset's document and how far its ingestion got."""

    document_id: str
    title: str
    content_type: str
    size: Count | None
    status: str
    reason: str | None
    pages: Count | None
    chunks_done: Count | None
    chunks_total: Count | None
    created_at: str


class DatasetDocumentsPublic(BaseModel):
    dataset: DatasetPublic
    documents: list[DatasetDocumentPublic]
