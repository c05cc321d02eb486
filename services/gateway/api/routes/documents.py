"""Tenant documents: upload text, Markdown or HTML into the tenant's searchable corpus."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from contracts.document import DocumentUploaded, DocumentUploadedPayload, TextContentType
from contracts.envelope import Actor
from contracts.ids import new_id
from services.gateway.api.commands import publish
from services.gateway.api.deps import ComponentsDep, CurrentPrincipal, requires

router = APIRouter(prefix="/v1/documents", tags=["documents"])


class DocumentCreate(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    content_type: TextContentType = "text/plain"
    content: str = Field(min_length=1, max_length=600_000)


@router.post("", status_code=202, dependencies=[requires("documents:write")])
async def upload_document(body: DocumentCreate, who: CurrentPrincipal, parts: ComponentsDep) -> dict[str, str]:
    """Queue a document for indexing into the tenant's corpus."""
    document_id = new_id()
    event = DocumentUploaded.create(
        DocumentUploadedPayload(
            document_id=document_id, title=body.title, content_type=body.content_type, content=body.content
        ),
        tenant_id=who.tenant_id,
        actor=Actor(user_id=who.user_id, roles=list(who.roles)),
    )
    await publish(parts, event)
    return {"document_id": document_id, "status": "uploaded"}


@router.get("", dependencies=[requires("documents:read")])
async def list_documents(who: CurrentPrincipal, parts: ComponentsDep) -> dict[str, Any]:
    """The tenant's documents and their indexing status."""
    return {"documents": parts.store.list_documents(who.tenant_id)}
