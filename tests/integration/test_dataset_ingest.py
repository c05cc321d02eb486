"""Upload -> object store -> retriever -> index, over a real NATS JetStream, with the gateway's read model fed
by the same events: progress to indexed, a tampered reference rejected, a deleted dataset's chunks gone."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from contracts import subjects
from contracts.document import (
    UPLOADS_BUCKET,
    DatasetCreated,
    DatasetCreatedPayload,
    DatasetDeleted,
    DatasetDeletedPayload,
    DocumentProgress,
    DocumentRejected,
    DocumentUploaded,
    DocumentUploadedPayload,
    StoredObject,
    dataset_objects,
    upload_object,
)
from contracts.envelope import Event
from quarry_runtime.blobs import BlobError, BlobStore
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.store import SqlDatabase
from services.gateway.readmodels.datasets import DatasetStore
from services.gateway.settings import GatewaySettings
from services.retriever.application.uploads import index_upload
from services.retriever.handlers import Components, subscriptions
from services.retriever.index import DATASET, SourceIndex
from services.retriever.parsing import ParseLimits, ParserPool
from services.retriever.tombstones import DeletedDatasets
from tests.fakes.pdf import pdf_of
from tests.support.polling import eventually
from tests.unit.test_datasets import PAGES, TITLE
from tests.unit.test_retriever_parsing import raw_pdf, text_lines

pytestmark = pytest.mark.infra

PARSERS = ParserPool(ParseLimits(workers=1, memory_mb=512, cpu_s=3, wall_s=15.0))
PDF = "application/pdf"


async def test_an_uploaded_pdf_is_indexed_into_its_dataset_with_progress(nats_url: str, tmp_path: Path) -> None:
    tenant = f"t{uuid.uuid4().hex[:10]}"
    index = SourceIndex(QdrantClient(":memory:"), label_fields=(DATASET,))
    memory = SourceIndex(QdrantClient(":memory:"), collection="memory")
    for i in (index, memory):
        i.ensure_collection()
    retriever = Bus(nats_url, "retriever", max_deliver=3)
    blobs = BlobStore(lambda: retriever.broker.connection.jetstream(), UPLOADS_BUCKET, replicas=1)
    for sub in subscriptions(
        retriever,
        Components(index=index, memory=memory, parsers=PARSERS, blobs=blobs, deleted=DeletedDatasets(retriever)),
    ):
        retriever.subscribe(sub)

    db = SqlDatabase(GatewaySettings(data_dir=tmp_path), "gateway")
    datasets = DatasetStore(db)
    seen: list[Event] = []

    async def observe(ev: Event) -> None:
        if ev.tenant_id == tenant:
            seen.append(ev)
            datasets.apply(ev)

    observer_name = f"test-observer-{uuid.uuid4().hex[:8]}"
    observer = Bus(nats_url, observer_name)
    observer.subscribe(Subscription("document.>", observer_name, observe))
    await retriever.start()
    await observer.start()
    try:
        created = DatasetCreated.create(DatasetCreatedPayload(dataset_id="ds-1", name="tides"), tenant_id=tenant)
        await observer.publish(created)
        await eventually(lambda: datasets.find(tenant, "tides") is not None, what="the dataset")

        data = pdf_of(TITLE, PAGES)
        ref = await blobs.put(f"{tenant}/ds-1/doc-1", data)
        assert (ref.bucket, ref.size) == (UPLOADS_BUCKET, len(data))
        assert await blobs.get(ref) == data

        async def upload(document_id: str, title: str, stored: StoredObject, content_type: str = PDF) -> None:
            """What the gateway publishes for an upload of `stored` into ds-1."""
            payload = DocumentUploadedPayload(
                document_id=document_id, title=title, content_type=content_type, stored=stored, dataset_id="ds-1"
            )
            await observer.publish(DocumentUploaded.create(payload, tenant_id=tenant))

        await upload("doc-1", "Tidal notes", ref)

        def status(doc: str) -> str | None:
            rows = {d["document_id"]: d for d in datasets.documents_of(tenant, "ds-1")}
            return rows[doc]["status"] if doc in rows else None

        def stages() -> set[str]:
            return {ev.payload.stage for ev in seen if isinstance(ev, DocumentProgress)}

        def reason(doc: str) -> str:
            [row] = [d for d in datasets.documents_of(tenant, "ds-1") if d["document_id"] == doc]
            return str(row["reason"])

        await eventually(lambda: status("doc-1") == "indexed", what="the PDF to be indexed")
        await eventually(lambda: stages() == {"extracting", "chunking", "indexing"}, what="every stage's progress")
        [row] = datasets.documents_of(tenant, "ds-1")
        assert row["pages"] == 3 and row["chunks_done"] == row["chunks_total"] > 0
        hits = index.search("barnacle fouling rotor blades", [tenant], 5, datasets={tenant: ["ds-1"]})
        assert hits and hits[0].source_id == "doc-1" and hits[0].location == "page 2"
        assert index.search("barnacle fouling", [tenant], 5, datasets={tenant: ["ds-2"]}) == []

        # A reference whose hash does not match the stored bytes is refused, with the reason.
        forged = ref.model_copy(update={"sha256": "0" * 64})
        with pytest.raises(BlobError, match="does not match"):
            await blobs.get(forged)
        await upload("doc-2", "Forged", forged)
        await eventually(lambda: status("doc-2") == "rejected", what="the forged upload to be rejected")
        assert "does not match" in reason("doc-2")

        # A PDF whose few dozen KB unpack into 40 M characters is refused with the reason; the retriever goes on.
        bomb = await blobs.put(upload_object(tenant, "ds-1", "doc-4"), raw_pdf(text_lines(b"A" * 1000, 40_000)))
        await upload("doc-4", "Bomb", bomb)
        await eventually(lambda: status("doc-4") == "rejected", what="the PDF bomb to be rejected")
        assert re.search("MiB|CPU time|characters", reason("doc-4")), reason("doc-4")

        deleted = DatasetDeleted.create(DatasetDeletedPayload(dataset_id="ds-1", name="tides"), tenant_id=tenant)
        await observer.publish(deleted)
        await eventually(lambda: index.count(tenant) == 0, what="the dataset's chunks to go")
        await eventually(lambda: datasets.of_tenant(tenant) == [], what="the observer to see the deletion")
        await gone(blobs, ref)  # the retriever deleted the dataset's files too

        # An upload accepted before the deletion but handled after it is refused, file and all.
        late_ref = await blobs.put(upload_object(tenant, "ds-1", "doc-3"), b"Neap tides are the weakest.")
        await upload("doc-3", "Late", late_ref, "text/plain")

        def refusal() -> DocumentRejected | None:
            return next((e for e in seen if isinstance(e, DocumentRejected) and e.payload.document_id == "doc-3"), None)

        await eventually(lambda: refusal() is not None, what="the late upload to be refused")
        refused = refusal()
        assert refused is not None and "dataset was deleted" in refused.payload.reason
        assert index.count(tenant) == 0
        await gone(blobs, late_ref)
    finally:
        await observer.stop()
        await retriever.stop()
        db.close()
        index.close()
        memory.close()


async def gone(blobs: BlobStore, ref: StoredObject, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await blobs.get(ref)
        except BlobError as exc:
            assert "not in the store" in str(exc)
            return
        assert time.monotonic() < deadline, f"{ref.name} is still in the object store"
        await asyncio.sleep(0.1)


async def test_deleting_a_dataset_s_files_leaves_other_datasets_and_tenants_alone(nats_url: str) -> None:
    bus = Bus(nats_url, f"blobs-{uuid.uuid4().hex[:6]}")
    await bus.start()
    try:
        blobs = BlobStore(lambda: bus.broker.connection.jetstream(), UPLOADS_BUCKET, replicas=1)
        tenant = f"t{uuid.uuid4().hex[:10]}"
        names = [
            upload_object(tenant, "ds-1", "a"),
            upload_object(tenant, "ds-1", "b"),
            upload_object(tenant, "ds-10", "c"),  # a prefix of its name is ds-1's, not its prefix
            upload_object(f"{tenant}x", "ds-1", "d"),
        ]
        refs = [await blobs.put(name, name.encode()) for name in names]
        assert await blobs.delete_under(dataset_objects(tenant, "ds-1")) == 2
        for ref in refs[:2]:
            await gone(blobs, ref, timeout_s=1)
        assert [await blobs.get(ref) for ref in refs[2:]] == [n.encode() for n in names[2:]]
        with pytest.raises(ValueError, match="empty prefix"):
            await blobs.delete_under("")
    finally:
        await bus.stop()


def test_the_subjects_are_in_the_stream() -> None:
    # The retriever's and gateway's consumers read them from the one stream `document.>` covers.
    for subject in (subjects.DOCUMENT_PROGRESS, subjects.DATASET_CREATED, subjects.DATASET_DELETED):
        assert subject.startswith("document.v1.")


async def test_a_document_whose_dataset_is_deleted_while_it_is_indexed_is_taken_out_again(nats_url: str) -> None:
    bus = Bus(nats_url, f"race-{uuid.uuid4().hex[:6]}")
    await bus.start()
    loop = asyncio.get_running_loop()
    deleted = DeletedDatasets(bus)
    tenant = f"t{uuid.uuid4().hex[:10]}"

    class DeletedMidway(SourceIndex):
        """The real index; the dataset's deletion lands while its first chunks are written."""

        def add(self, *args: Any, **kwargs: Any) -> Any:
            written = super().add(*args, **kwargs)
            asyncio.run_coroutine_threadsafe(deleted.bury(tenant, "ds-9"), loop).result()
            return written

    index = DeletedMidway(QdrantClient(":memory:"), label_fields=(DATASET,))
    index.ensure_collection()
    published: list[Event] = []
    original_publish = bus.publish

    async def publish(event: Event, subject: str | None = None) -> bool:
        published.append(event)
        return await original_publish(event, subject)

    bus.publish = publish  # type: ignore[method-assign]  # a spy on this one bus, which the test owns
    try:
        blobs = BlobStore(lambda: bus.broker.connection.jetstream(), UPLOADS_BUCKET, replicas=1)
        ref = await blobs.put(upload_object(tenant, "ds-9", "doc-9"), b"Spring tides follow the new moon. " * 40)
        uploaded = DocumentUploaded.create(
            DocumentUploadedPayload(
                document_id="doc-9", title="Race", content_type="text/plain", stored=ref, dataset_id="ds-9"
            ),
            tenant_id=tenant,
        )
        await index_upload(uploaded, bus, index, blobs, deleted, parsers=PARSERS)
        assert index.count(tenant) == 0
        kinds = [type(e).__name__ for e in published]
        assert "DocumentIndexed" not in kinds and kinds[-1] == "DocumentRejected"
        assert "deleted while the document was being indexed" in published[-1].payload.reason
        await gone(blobs, ref, timeout_s=1)
    finally:
        await bus.stop()
        index.close()
