"""Tenant documents uploaded through the gateway and indexed by the retriever."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from contracts import subjects
from contracts.envelope import Contract, Event

ContentType = Literal["text/plain", "text/markdown", "text/html"]


class DocumentUploadedPayload(Contract):
    document_id: str
    title: str = Field(min_length=1, max_length=300)
    content_type: ContentType
    content: str = Field(min_length=1, max_length=600_000)


class DocumentUploaded(Event):
    SUBJECT: ClassVar[str] = subjects.DOCUMENT_UPLOADED
    TYPE: ClassVar[str] = "document.uploaded"
    type: Literal["document.uploaded"] = "document.uploaded"
    payload: DocumentUploadedPayload


class DocumentIndexedPayload(Contract):
    document_id: str
    chunks: int = Field(ge=0)


class DocumentIndexed(Event):
    SUBJECT: ClassVar[str] = subjects.DOCUMENT_INDEXED
    TYPE: ClassVar[str] = "document.indexed"
    type: Literal["document.indexed"] = "document.indexed"
    payload: DocumentIndexedPayload


class DocumentRejectedPayload(Contract):
    document_id: str
    reason: str


class DocumentRejected(Event):
    SUBJECT: ClassVar[str] = subjects.DOCUMENT_REJECTED
    TYPE: ClassVar[str] = "document.rejected"
    type: Literal["document.rejected"] = "document.rejected"
    payload: DocumentRejectedPayload
