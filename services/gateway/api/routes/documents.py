"""Tenant documents: upload text, Markdown or HTML into the tenant's searchable corpus."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from contracts.document import DocumentUploaded, DocumentUploadedPayload
from contracts.ids import new_id
from services.gateway.api.commands import publish
from services.gateway.api.deps import ComponentsDep, CurrentPrincipal, requires
from services.gateway.api.models.documents import DocumentListPublic
from services.gateway.application.datasets import DocumentCreate, within_upload_quota

router = APIRouter(prefix="/v1/documents", tags=["documents"])


@router.post("", status_code=202, dependencies=[requires("documents:write")])
async def upload_document(body: DocumentCreate, who: CurrentPrincipal, parts: ComponentsDep) -> dict[str, str]:
    """Queue a document for indexing into the tenant's corpus."""
    await within_upload_quota(parts, who.tenant_id, len(body.content.encode()))
    document_id = new_id()
    event = DocumentUploaded.create(
        DocumentUploadedPayload(
            document_id=document_id, title=body.title, content_type=body.content_type, content=body.content
        ),
        tenant_id=who.tenant_id,
        actor=who.actor(),
    )
    await publish(parts, event)
    return {"document_id": document_id, "status": "uploaded"}


@router.get("", dependencies=[requires("documents:read")])
async def list_documents(who: CurrentPrincipal, parts: ComponentsDep) -> DocumentListPublic:
    """The tenant's documents and their indexing status."""
    return DocumentListPublic(documents=await asyncio.to_thread(parts.store.list_documents, who.tenant_id))
