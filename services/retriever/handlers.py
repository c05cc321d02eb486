"""The retriever's subscribers: search, fetch, read and index tasks on its lane, and tenant document uploads."""

from __future__ import annotations

from dataclasses import dataclass

from contracts import consumers, subjects
from contracts.document import DatasetDeleted, DocumentUploaded
from contracts.task import TaskDispatched
from quarry_runtime.agent_configs import AgentConfigs, config_for
from quarry_runtime.blobs import BlobStore
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.worker import TaskError, WorkResult, lane
from services.retriever.application import tasks
from services.retriever.application.uploads import forget_dataset, index_upload, reject_upload
from services.retriever.domain.errors import Refused
from services.retriever.domain.ranking import ranking_of
from services.retriever.index import SourceIndex
from services.retriever.parsing import ParserPool
from services.retriever.tombstones import DeletedDatasets
from services.retriever.web.search import WebSearch


@dataclass(frozen=True, slots=True, kw_only=True)
class Components:
    """What the retriever's subscribers search, read and write; the web, the object store and
    the dataset tombstones are optional."""

    index: SourceIndex
    memory: SourceIndex
    parsers: ParserPool
    web: WebSearch | None = None
    blobs: BlobStore | None = None
    deleted: DeletedDatasets | None = None
    agents: AgentConfigs | None = None
    environment: str = "production"


async def execute(task: TaskDispatched, parts: Components) -> WorkResult:
    """Run one task of the retriever's lane, with the ranker version it names (`domain.ranking`);
    what it refuses fails the task, retried when it may succeed later."""
    config = await config_for(task, parts.agents, parts.environment)
    try:
        ranking = None if config is None else ranking_of(config)
        return await tasks.execute(task, parts.index, parts.memory, parts.web, ranking)
    except Refused as exc:
        raise TaskError(str(exc), retryable=exc.retryable) from exc


def subscriptions(bus: Bus, parts: Components) -> list[Subscription]:
    async def run(task: TaskDispatched) -> WorkResult:
        return await execute(task, parts)

    async def on_uploaded(ev: DocumentUploaded) -> None:
        """Index an uploaded document into its tenant's corpus, or say why not."""
        await index_upload(ev, bus, parts.index, parts.blobs, parts.deleted, parsers=parts.parsers)

    async def on_upload_given_up(ev: DocumentUploaded, reason: str) -> None:
        # It kept failing, or killed the processes that read it: the dataset shows why, not "extracting".
        await reject_upload(ev, bus, reason)

    async def on_dataset_deleted(ev: DatasetDeleted) -> None:
        """Drop a deleted dataset's chunks from the index and its files from the object store."""
        await forget_dataset(ev, parts.index, parts.blobs, parts.deleted)

    return [
        lane(bus, "retriever", run),
        Subscription(
            subjects.DOCUMENT_UPLOADED,
            consumers.durable("retriever", subjects.DOCUMENT_UPLOADED),
            on_uploaded,
            on_give_up=on_upload_given_up,
        ),
        Subscription(
            subjects.DATASET_DELETED, consumers.durable("retriever", subjects.DATASET_DELETED), on_dataset_deleted
        ),
    ]
