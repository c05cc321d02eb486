"""Named datasets of a tenant: create, list, delete; upload documents into one and watch them get indexed.

File bytes never travel in an event: they go to the JetStream object store and the upload event
names them (bucket, name, sha256, size); the retriever reads them back from there.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, Field

from contracts.billing import EntitlementsQuery
from contracts.document import (
    DATASET_NAME_PATTERN,
    ContentType,
    DatasetCreated,
    DatasetCreatedPayload,
    DatasetDeleted,
    DatasetDeletedPayload,
    DocumentUploaded,
    DocumentUploadedPayload,
    StoredObject,
    upload_object,
)
from contracts.ids import new_id
from contracts.numbers import Count
from services.gateway.api.commands import publish
from services.gateway.api.deps import Components, ComponentsDep, DatasetReader, DatasetWriter
from services.gateway.api.models.datasets import DatasetCreatedPublic, DatasetListPublic
from services.gateway.api.models.documents import DatasetDocumentsPublic
from services.gateway.application.datasets import DocumentCreate, within_upload_quota
from services.gateway.domain.sniff import Unsupported, sniff, title_from
from services.gateway.entitlements import count_problem
from services.gateway.errors import Conflict, NotFound, TooLarge, Unavailable, UnsupportedMedia, available
from services.gateway.security import Principal

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

INLINE_CHARS = 16 * 1024
"""Text longer than this goes to the object store rather than into the upload event."""
_READ_SIZE = 1024 * 1024


class DatasetCreate(BaseModel):
    name: str = Field(pattern=DATASET_NAME_PATTERN, description="lower-case letters, digits, '.', '_' and '-'")
    description: str = Field(default="", max_length=2000)


class DocumentAccepted(BaseModel):
    document_id: str
    dataset: str
    content_type: ContentType
    size: Count
    status: str = "queued"


async def _dataset(parts: Components, who: Principal, name: str) -> dict[str, Any]:
    found = await asyncio.to_thread(parts.store.datasets.find, who.tenant_id, name)
    if found is None:
        raise NotFound("dataset not found")
    return found


@router.post("", status_code=201)
async def create_dataset(body: DatasetCreate, who: DatasetWriter, parts: ComponentsDep) -> DatasetCreatedPublic:
    """Create a named dataset for the tenant's documents."""
    if await asyncio.to_thread(parts.store.datasets.find, who.tenant_id, body.name) is not None:
        raise Conflict(f"the tenant already has a dataset named {body.name!r}")
    have = (await asyncio.to_thread(parts.store.datasets.usage, who.tenant_id))[0]
    await parts.plan().check(
        EntitlementsQuery(tenant_id=who.tenant_id), count_problem("datasets", have, lambda e: e.max_datasets)
    )
    payload = DatasetCreatedPayload(dataset_id=new_id(), name=body.name, description=body.description)
    await publish(parts, DatasetCreated.create(payload, tenant_id=who.tenant_id, actor=who.actor()))
    return DatasetCreatedPublic(dataset_id=payload.dataset_id, name=payload.name, description=payload.description)


@router.get("")
async def list_datasets(who: DatasetReader, parts: ComponentsDep) -> DatasetListPublic:
    """The tenant's datasets, each with its documents counted by ingestion status."""
    found = await asyncio.to_thread(parts.store.datasets.of_tenant, who.tenant_id)
    return DatasetListPublic.model_validate({"datasets": found})


@router.delete("/{name}", status_code=202)
async def delete_dataset(name: str, who: DatasetWriter, parts: ComponentsDep) -> dict[str, str]:
    """Delete a dataset: its documents leave the listing at once, their indexed chunks shortly after."""
    found = await _dataset(parts, who, name)
    payload = DatasetDeletedPayload(dataset_id=found["dataset_id"], name=name)
    await publish(parts, DatasetDeleted.create(payload, tenant_id=who.tenant_id, actor=who.actor()))
    return {"dataset_id": payload.dataset_id, "status": "deleted"}


@router.get("/{name}/documents")
async def list_dataset_documents(name: str, who: DatasetReader, parts: ComponentsDep) -> DatasetDocumentsPublic:
    """A dataset's documents with their ingestion status (queued, extracting, chunking, indexing,
    indexed, rejected), the reason of a rejection, pages read and chunks indexed so far."""
    found = await _dataset(parts, who, name)
    documents = await asyncio.to_thread(parts.store.datasets.documents_of, who.tenant_id, found["dataset_id"])
    return DatasetDocumentsPublic.model_validate({"dataset": found, "documents": documents})


@router.post("/{name}/documents", status_code=202)
async def add_text_document(
    name: str, body: DocumentCreate, who: DatasetWriter, parts: ComponentsDep
) -> DocumentAccepted:
    """Queue a text, Markdown or HTML document (JSON body) for indexing into the dataset."""
    found = await _dataset(parts, who, name)
    document_id = new_id()
    data = body.content.encode()
    await within_upload_quota(parts, who.tenant_id, len(data))
    stored = None
    if len(body.content) > INLINE_CHARS:
        stored = await _store(parts, who, found["dataset_id"], document_id, data)
    return await _queue(parts, who, found, document_id, body.title, body.content_type, stored, body.content, len(data))


@router.post("/{name}/files", status_code=202)
async def upload_file(
    name: str,
    file: Annotated[UploadFile, File(description="a PDF, HTML, Markdown or plain-text file")],
    who: DatasetWriter,
    parts: ComponentsDep,
    title: Annotated[str | None, Form(max_length=300)] = None,
) -> DocumentAccepted:
    """Upload a file (multipart) into the dataset; its type is read from its bytes, its name tells Markdown."""
    found = await _dataset(parts, who, name)
    limit = parts.settings.max_upload_bytes
    data = bytearray()
    while chunk := await file.read(_READ_SIZE):
        data.extend(chunk)
        if len(data) > limit:
            raise TooLarge(f"the file is larger than the {limit} bytes a dataset accepts")
    if not data:
        raise UnsupportedMedia("the file is empty")
    try:
        content_type = sniff(bytes(data[:1024]), file.content_type, file.filename)
    except Unsupported as exc:
        raise UnsupportedMedia(str(exc)) from exc
    document_id = new_id()
    await within_upload_quota(parts, who.tenant_id, len(data))
    stored = await _store(parts, who, found["dataset_id"], document_id, bytes(data))
    title = (title or "").strip() or title_from(file.filename, "untitled")
    return await _queue(parts, who, found, document_id, title, content_type, stored, "", len(data))


async def _store(parts: Components, who: Principal, dataset_id: str, document_id: str, data: bytes) -> StoredObject:
    blobs = available(parts.blobs, "file uploads are not available: this gateway has no object store")
    try:
        return await blobs.put(upload_object(who.tenant_id, dataset_id, document_id), data)
    except Exception as exc:
        raise Unavailable(f"the object store did not take the file: {exc}") from exc


async def _queue(
    parts: Components,
    who: Principal,
    dataset: dict[str, Any],
    document_id: str,
    title: str,
    content_type: ContentType,
    stored: StoredObject | None,
    content: str,
    size: int,
) -> DocumentAccepted:
    payload = DocumentUploadedPayload(
        document_id=document_id,
        title=title,
        content_type=content_type,
        content="" if stored else content,
        stored=stored,
        dataset_id=dataset["dataset_id"],
    )
    await publish(parts, DocumentUploaded.create(payload, tenant_id=who.tenant_id, actor=who.actor()))
    return DocumentAccepted(document_id=document_id, dataset=dataset["name"], content_type=content_type, size=size)
