"""The retriever's subscribers: search tasks on its lane, and tenant document uploads."""

from __future__ import annotations

import asyncio
import logging

from contracts import subjects
from contracts.document import (
    DocumentIndexed,
    DocumentIndexedPayload,
    DocumentRejected,
    DocumentRejectedPayload,
    DocumentUploaded,
)
from contracts.task import TaskDispatched
from contracts.work import SearchInput, SearchOutput
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.worker import TaskError, Usage, WorkResult, lane
from services.retriever.chunking import chunk_document
from services.retriever.corpus import Document, to_text
from services.retriever.index import PUBLIC_TENANT, SourceIndex

log = logging.getLogger(__name__)


def subscriptions(bus: Bus, index: SourceIndex) -> list[Subscription]:
    async def search(task: TaskDispatched) -> WorkResult:
        """Search the tenant's documents and the shared corpus for one sub-question."""
        if task.payload.kind != "search":
            raise TaskError(f"the retriever does not do {task.payload.kind!r} tasks")
        inp = SearchInput.model_validate(task.payload.input)
        query = f"{inp.sub_question} {inp.question}"
        passages = await asyncio.to_thread(index.search, query, [task.tenant_id, PUBLIC_TENANT], inp.limit)
        output = SearchOutput(sub_question=inp.sub_question, passages=passages)
        return WorkResult(output=output.model_dump(), usage=[Usage(tool="web_search", search_calls=1)])

    async def on_uploaded(ev: DocumentUploaded) -> None:
        """Index an uploaded document into its tenant's corpus, or say why not."""
        p = ev.payload
        if ev.tenant_id == PUBLIC_TENANT or "\x1f" in ev.tenant_id:
            reason = "this tenant id cannot own documents"
        else:
            try:
                text = to_text(p.content, p.content_type)
                chunks = chunk_document(Document(p.document_id, p.title, text, p.content_type))
                reason = "" if chunks else "the document has no text to index"
            except ValueError as exc:
                reason = str(exc)
        if reason:
            await bus.publish(
                DocumentRejected.caused_by(ev, DocumentRejectedPayload(document_id=p.document_id, reason=reason))
            )
            return
        count = await asyncio.to_thread(index.replace_document, ev.tenant_id, p.document_id, chunks)
        log.info("indexed document %s for tenant %s: %d chunks", p.document_id, ev.tenant_id, count)
        await bus.publish(
            DocumentIndexed.caused_by(ev, DocumentIndexedPayload(document_id=p.document_id, chunks=count))
        )

    return [
        lane(bus, "retriever", search),
        Subscription(subjects.DOCUMENT_UPLOADED, "retriever-documents", on_uploaded),
    ]
