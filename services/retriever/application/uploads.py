"""Indexing a tenant's uploaded document, reporting its progress; and forgetting a deleted dataset."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from contracts.document import (
    DatasetDeleted,
    DocumentIndexed,
    DocumentIndexedPayload,
    DocumentProgress,
    DocumentProgressPayload,
    DocumentRejected,
    DocumentRejectedPayload,
    DocumentStage,
    DocumentUploaded,
    dataset_objects,
)
from contracts.guardrail import GuardrailTripped, GuardrailTrippedPayload
from quarry_runtime.blobs import BlobError, BlobStore
from quarry_runtime.bus import Bus
from quarry_security.guardrails import strip_injections
from services.retriever.domain.chunking import Chunk, chunk_document
from services.retriever.domain.corpus import Document, to_text
from services.retriever.domain.errors import RetrieverError
from services.retriever.extraction import Extracted, chunk_pages, extract_file
from services.retriever.index import DATASET, PUBLIC_TENANT, SourceIndex
from services.retriever.parsing import ParserPool
from services.retriever.tombstones import DeletedDatasets
from services.retriever.web.extract import check_length

log = logging.getLogger(__name__)

PROGRESS_BATCH = 64
"""Chunks indexed between two progress events."""


def can_own(tenant_id: str) -> bool:
    # The public corpus is nobody's to add to, and \x1f separates the parts of a point id.
    return tenant_id != PUBLIC_TENANT and "\x1f" not in tenant_id


class Unindexable(RetrieverError, ValueError):
    """The document cannot be indexed; the reason goes back to the tenant."""


async def _text_of(ev: DocumentUploaded, blobs: BlobStore | None, parsers: ParserPool) -> Extracted:
    p = ev.payload
    if bool(p.content) == (p.stored is not None):
        raise Unindexable("a document has either its text inline or a stored file, not both or neither")
    limits = parsers.limits
    if p.stored is None:
        if p.content_type == "application/pdf":
            raise Unindexable("a PDF must be uploaded as a file")
        # Small (it came in an event), but HTML still goes through a parser: parsed out of process too.
        text = await parsers.run(to_text, p.content, p.content_type)
        check_length(text, limits.max_chars)
        return Extracted(text)
    if blobs is None:
        raise Unindexable("this retriever has no object store to read uploaded files from")
    try:
        data = await blobs.get(p.stored)
    except BlobError as exc:
        raise Unindexable(str(exc)) from exc
    # A bomb of a file takes its worker process down (or over a limit), not the retriever.
    return await parsers.run(extract_file, data, p.content_type, p.title, limits.text)


async def reject_upload(ev: DocumentUploaded, bus: Bus, reason: str) -> None:
    """Tell the tenant why the document will not be indexed."""
    payload = DocumentRejectedPayload(document_id=ev.payload.document_id, reason=reason)
    await bus.publish(DocumentRejected.caused_by(ev, payload))


async def index_upload(
    ev: DocumentUploaded,
    bus: Bus,
    index: SourceIndex,
    blobs: BlobStore | None,
    deleted: DeletedDatasets | None = None,
    *,
    parsers: ParserPool,
) -> None:
    """Index an uploaded document into its tenant's corpus (and dataset), telling how far it got, or why not."""
    p = ev.payload

    async def refuse(reason: str) -> None:
        await reject_upload(ev, bus, reason)

    async def dataset_gone() -> bool:
        return bool(p.dataset_id and deleted is not None and await deleted.is_deleted(ev.tenant_id, p.dataset_id))

    async def progress(stage: DocumentStage, pages: int | None = None, done: int = 0, total: int = 0) -> None:
        payload = DocumentProgressPayload(
            document_id=p.document_id, stage=stage, pages=pages, chunks_done=done, chunks_total=total
        )
        # One id per step, the same on a redelivery: JetStream drops the repeat, not the next step.
        await bus.publish(DocumentProgress.caused_by(ev, payload, name=f"{DocumentProgress.TYPE}:{stage}:{done}"))

    injections: Counter[str] = Counter()
    chunks: list[Chunk] = []
    pages: int | None = None
    try:
        if not can_own(ev.tenant_id):
            raise Unindexable("this tenant id cannot own documents")
        if await dataset_gone():
            # A delivery before this one may have indexed part of it before it stopped.
            await asyncio.to_thread(index.trim_document, ev.tenant_id, p.document_id, 0)
            await _drop_file(ev, blobs)
            raise Unindexable("its dataset was deleted before the document was indexed")
        if p.stored is not None:
            await progress("extracting")
        extracted = await _text_of(ev, blobs, parsers)
        pages = extracted.pages
        await progress("chunking", pages)
        # Instructions to the model planted in a document are cut before it is indexed.
        text, found = strip_injections(extracted.text)
        injections.update(f.kind for f in found)
        if p.content_type == "application/pdf":
            chunks = chunk_pages(p.document_id, p.title, text)
        else:
            chunks = chunk_document(Document(p.document_id, p.title, text, p.content_type))
        if not chunks:
            raise Unindexable("the document has no text to index")
    except ValueError as exc:  # Unindexable, and the extractors' own ValueErrors
        await refuse(str(exc))
        return
    if injections:
        trip = GuardrailTrippedPayload(
            guardrail="prompt_injection",
            where="document",
            action="stripped",
            counts=dict(injections),
            document_id=p.document_id,
        )
        await bus.publish(GuardrailTripped.caused_by(ev, trip))
    labels = {DATASET: p.dataset_id} if p.dataset_id else None
    total = len(chunks)
    for start in range(0, total, PROGRESS_BATCH):
        batch = chunks[start : start + PROGRESS_BATCH]
        await asyncio.to_thread(index.add, batch, ev.tenant_id, labels)
        await progress("indexing", pages, done=start + len(batch), total=total)
    # Upserting first keeps a re-indexed document searchable throughout; then what a longer version left goes.
    await asyncio.to_thread(index.trim_document, ev.tenant_id, p.document_id, total)
    if await dataset_gone():  # deleted while this was being indexed: take it out again
        await asyncio.to_thread(index.trim_document, ev.tenant_id, p.document_id, 0)
        await _drop_file(ev, blobs)
        await refuse("its dataset was deleted while the document was being indexed")
        return
    log.info("indexed document %s for tenant %s: %d chunks", p.document_id, ev.tenant_id, total)
    await bus.publish(DocumentIndexed.caused_by(ev, DocumentIndexedPayload(document_id=p.document_id, chunks=total)))


async def forget_dataset(
    ev: DatasetDeleted, index: SourceIndex, blobs: BlobStore | None = None, deleted: DeletedDatasets | None = None
) -> None:
    """Remove every indexed chunk and uploaded file of a deleted dataset (again, harmlessly, on a
    redelivery). The tombstone goes first, so an upload still on its way is refused."""
    if not can_own(ev.tenant_id):
        return
    dataset_id = ev.payload.dataset_id
    if deleted is not None:
        await deleted.bury(ev.tenant_id, dataset_id)
    await asyncio.to_thread(index.delete_labelled, ev.tenant_id, {DATASET: dataset_id})
    files = await blobs.delete_under(dataset_objects(ev.tenant_id, dataset_id)) if blobs is not None else 0
    log.info("removed dataset %s of tenant %s: its chunks and %d files", dataset_id, ev.tenant_id, files)


async def _drop_file(ev: DocumentUploaded, blobs: BlobStore | None) -> None:
    if ev.payload.stored is not None and blobs is not None:
        await blobs.delete(ev.payload.stored.name)
