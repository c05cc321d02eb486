"""Tenant documents uploaded through the gateway and indexed by the retriever."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts import subjects
from contracts.envelope import Contract, Event

TextContentType = Literal["text/plain", "text/markdown", "text/html"]
ContentType = Literal["text/plain", "text/markdown", "text/html", "application/pdf"]
DATASET_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
UPLOADS_BUCKET = "quarry_uploads"
"""The JetStream object-store bucket that holds uploaded files until their dataset is deleted."""


def dataset_objects(tenant_id: str, dataset_id: str) -> str:
    """The prefix of every uploaded file's object name in a dataset (the retriever deletes by it)."""
    return f"{tenant_id}/{dataset_id}/"


def upload_object(tenant_id: str, dataset_id: str, document_id: str) -> str:
    """The object name of an uploaded file."""
    return dataset_objects(tenant_id, dataset_id) + document_id


class StoredObject(Contract):
    """Bytes kept in the JetStream object store, named by an event instead of carried in it."""

    bucket: str = Field(min_length=1)
    name: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class DocumentUploadedPayload(Contract):
    """A document to index: its text inline, or (a file upload, a PDF) its bytes in the object store.

    Exactly one of `content` and `stored` is set; the retriever rejects the document otherwise.
    """

    document_id: str
    title: str = Field(min_length=1, max_length=300)
    content_type: ContentType
    content: str = Field(default="", max_length=600_000, description="the text inline; empty when `stored`")
    stored: StoredObject | None = Field(default=None, description="the uploaded bytes, when not inline")
    dataset_id: str | None = Field(default=None, description="the tenant's dataset the document belongs to")


class DocumentUploaded(Event, subject=subjects.DOCUMENT_UPLOADED, type="document.uploaded"):
    payload: DocumentUploadedPayload


class DocumentIndexedPayload(Contract):
    document_id: str
    chunks: int = Field(ge=0)


class DocumentIndexed(Event, subject=subjects.DOCUMENT_INDEXED, type="document.indexed"):
    payload: DocumentIndexedPayload


class DocumentRejectedPayload(Contract):
    document_id: str
    reason: str


class DocumentRejected(Event, subject=subjects.DOCUMENT_REJECTED, type="document.rejected"):
    payload: DocumentRejectedPayload


DocumentStage = Literal["extracting", "chunking", "indexing"]


class DocumentProgressPayload(Contract):
    """How far the indexing of a document has got; `indexed` or `rejected` follows."""

    document_id: str
    stage: DocumentStage
    pages: int | None = Field(default=None, ge=0, description="pages read so far (PDF)")
    chunks_done: int = Field(default=0, ge=0)
    chunks_total: int = Field(default=0, ge=0)


class DocumentProgress(Event, subject=subjects.DOCUMENT_PROGRESS, type="document.progress"):
    payload: DocumentProgressPayload


class DatasetCreatedPayload(Contract):
    dataset_id: str
    name: str = Field(pattern=DATASET_NAME_PATTERN)
    description: str = Field(default="", max_length=2000)


class DatasetCreated(Event, subject=subjects.DATASET_CREATED, type="document.dataset_created"):
    payload: DatasetCreatedPayload


class DatasetDeletedPayload(Contract):
    """The dataset, its documents and their indexed chunks are gone."""

    dataset_id: str
    name: str


class DatasetDeleted(Event, subject=subjects.DATASET_DELETED, type="document.dataset_deleted"):
    payload: DatasetDeletedPayload
