"""Ack-after-commit cases for the worker lanes and the retriever's own consumers."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient

from contracts import subjects
from contracts.document import (
    DatasetDeleted,
    DatasetDeletedPayload,
    DocumentIndexed,
    DocumentIndexedPayload,
    DocumentUploaded,
    DocumentUploadedPayload,
)
from contracts.envelope import Actor
from contracts.ids import new_id
from contracts.task import TaskDispatched, TaskDispatchedPayload, TaskSucceeded, TaskSucceededPayload
from contracts.work import CollectInput, IndexInput, ReportInput, SearchOutput
from quarry_runtime.artifacts import ArtifactStore
from quarry_runtime.bus import Bus
from quarry_runtime.worker import KvJournal
from services.analyst.bootstrap import AnalystSettings
from services.analyst.bootstrap import models as analyst_models
from services.analyst.handlers import subscriptions as analyst_subscriptions
from services.reporter.handlers import subscriptions as reporter_subscriptions
from services.retriever.application.memory import memory_index
from services.retriever.domain.chunking import chunk_document
from services.retriever.domain.corpus import Document
from services.retriever.handlers import Components
from services.retriever.handlers import subscriptions as retriever_subscriptions
from services.retriever.index import DATASET, SourceIndex
from services.retriever.tombstones import DeletedDatasets
from tests.integration.ack_cases_stores import TENANT
from tests.integration.ack_faults import patched
from tests.integration.ack_proof import Build, Case, StoreFault, Watched
from tests.integration.test_dataset_ingest import PARSERS
from tests.support.orchestrator import (
    DRAFT,
    PASSAGE,
)

# -- the worker lanes and the retriever's own consumers -----------------------------------------


def _task(role: str, kind: str, task_input: dict[str, Any], run_id: str) -> TaskDispatched:
    payload = TaskDispatchedPayload(task_id=new_id(), kind=kind, role=role, input=task_input)
    return TaskDispatched.create(payload, tenant_id=TENANT, run_id=run_id, actor=Actor(user_id="u1"))


def _indexes() -> tuple[SourceIndex, SourceIndex]:
    client = QdrantClient(":memory:")
    index, memory = SourceIndex(client, label_fields=(DATASET,)), memory_index(client)
    for i in (index, memory):
        i.ensure_collection()
    return index, memory


def lane_case(tmp_path: Path, role: str, *, fail_artifacts: bool = False) -> Build:
    """A lane's store is the task journal: its put fails, so the result is neither journalled nor
    published. The reporter's other store is its artifacts: `fail_artifacts` fails their writes."""

    async def build(bus: Bus) -> Case:
        closers: list[Callable[[], None]] = []
        artifacts = ArtifactStore(tmp_path / "artifacts")
        run_id = new_id()
        if role == "retriever":
            index, memory = _indexes()
            subs = retriever_subscriptions(bus, Components(index=index, memory=memory, parsers=PARSERS))
            work = IndexInput(run_id=run_id, question="tides?", draft=DRAFT)
            task = _task(role, "index", work.model_dump(mode="json"), run_id)
        elif role == "analyst":
            subs = analyst_subscriptions(bus, analyst_models(AnalystSettings(data_dir=tmp_path), bus))
            found = [SearchOutput(sub_question="What drives tides?", passages=[PASSAGE])]
            task = _task(
                role, "collect", CollectInput(question="tides?", findings=found).model_dump(mode="json"), run_id
            )
        else:
            subs = reporter_subscriptions(bus, artifacts)
            task = _task(role, "report", ReportInput(run_id=run_id, draft=DRAFT).model_dump(mode="json"), run_id)
        fault = StoreFault()
        stack = contextlib.ExitStack()
        stack.enter_context(patched(artifacts, "put", fault) if fail_artifacts else patched(KvJournal, "put", fault))
        closers.append(stack.close)
        journal = KvJournal(bus)
        succeeded = TaskSucceeded.caused_by(task, _succeeded_stand_in(task)).event_id
        watched = Watched()

        async def effect() -> Any:
            journalled = await journal.get(task.payload.task_id) is not None
            done = (journalled, watched.count(subjects.TASK_SUCCEEDED, succeeded))
            if not fail_artifacts:
                return done  # the reporter's files are written (idempotently) before the journal fails
            return (*done, len(list((tmp_path / "artifacts").rglob("report.*"))))

        return Case(
            subscriptions=subs,
            event=task,
            subject=subjects.task_lane(role),
            fault=fault,
            effect=effect,
            expected=lambda: (True, 1, 3) if fail_artifacts else (True, 1),
            watched=watched,
            watch=[subjects.TASK_SUCCEEDED],
            closers=closers,
        )

    return build


def _succeeded_stand_in(task: TaskDispatched) -> TaskSucceededPayload:
    return TaskSucceededPayload(task_id=task.payload.task_id, kind=task.payload.kind, output={})


def upload_case(tmp_path: Path) -> Build:
    """The retriever's store is its search index: the upsert of the document's chunks fails."""

    async def build(bus: Bus) -> Case:
        index, memory = _indexes()
        tenant = f"t{uuid.uuid4().hex[:10]}"
        event = DocumentUploaded.create(
            DocumentUploadedPayload(
                document_id="doc-1", title="Tides", content_type="text/plain", content="The moon pulls the sea. " * 40
            ),
            tenant_id=tenant,
        )
        fault = StoreFault()
        stack = contextlib.ExitStack()
        stack.enter_context(patched(index.client, "upsert", fault))
        indexed = DocumentIndexed.caused_by(event, DocumentIndexedPayload(document_id="doc-1", chunks=1)).event_id
        watched = Watched()
        return Case(
            subscriptions=retriever_subscriptions(bus, Components(index=index, memory=memory, parsers=PARSERS)),
            event=event,
            fault=fault,
            effect=lambda: (index.count(tenant) > 0, watched.count(subjects.DOCUMENT_INDEXED, indexed)),
            expected=lambda: (True, 1),
            watched=watched,
            watch=[subjects.DOCUMENT_INDEXED],
            closers=[stack.close],
        )

    return build


def dataset_case(tmp_path: Path) -> Build:
    """The delete of a deleted dataset's chunks fails: the message waits until they are gone."""

    async def build(bus: Bus) -> Case:
        index, memory = _indexes()
        tenant = f"t{uuid.uuid4().hex[:10]}"
        labels = {DATASET: "ds-1"}
        index.add(
            chunk_document(Document("doc-1", "Tides", "The moon pulls the sea. " * 40, "text/plain")), tenant, labels
        )
        fault = StoreFault()
        stack = contextlib.ExitStack()
        stack.enter_context(patched(index.client, "delete", fault))
        event = DatasetDeleted.create(DatasetDeletedPayload(dataset_id="ds-1", name="tides"), tenant_id=tenant)
        return Case(
            subscriptions=retriever_subscriptions(
                bus, Components(index=index, memory=memory, parsers=PARSERS, deleted=DeletedDatasets(bus))
            ),
            event=event,
            fault=fault,
            effect=lambda: index.count(tenant, labels),
            expected=lambda: 0,
            closers=[stack.close],
        )

    return build
