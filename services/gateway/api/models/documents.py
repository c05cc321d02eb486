"""What the document routes answer."""

from __future__ import annotations

from pydantic import BaseModel

from contracts.numbers import Count


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
