"""The datasets read model: a tenant's named datasets and how far each of their documents has got.

Built from `document.*` events only, so `quarry replay` rebuilds it like the other read models.
A document's progress only moves forward (`advance`): progress events may arrive late or twice,
and one that comes after `indexed` must not make a document look unfinished again.
"""

from __future__ import annotations

from typing import Any

from contracts.document import (
    DatasetCreated,
    DatasetDeleted,
    DocumentIndexed,
    DocumentProgress,
    DocumentRejected,
    DocumentUploaded,
)
from contracts.envelope import Event
from services.gateway.readmodels.tables import Prefixed, Tables

STAGES = ("queued", "extracting", "chunking", "indexing", "indexed", "rejected")
_RANK = {stage: rank for rank, stage in enumerate(STAGES)}
_FINAL = frozenset({"indexed", "rejected"})
PROGRESS_FIELDS = ("status", "reason", "pages", "chunks_done", "chunks_total")


def advance(current: dict[str, Any], event: Event) -> dict[str, Any] | None:
    """The document's progress after `event`, or None when the event changes nothing. Pure."""
    status = current["status"]
    if status in _FINAL:
        # Consumers take events in batches, so the page count may come in after the outcome.
        late_pages = isinstance(event, DocumentProgress) and event.payload.pages is not None
        if late_pages and current["pages"] is None and status == "indexed":
            return dict(current) | {"pages": event.payload.pages}
        return None
    new = dict(current)
    if isinstance(event, DocumentProgress):
        p = event.payload
        if _RANK[p.stage] < _RANK[status]:
            return None
        if p.stage == status and p.chunks_done <= current["chunks_done"]:
            return None
        new.update(status=p.stage, chunks_done=p.chunks_done, chunks_total=p.chunks_total)
        if p.pages is not None:
            new["pages"] = p.pages
    elif isinstance(event, DocumentIndexed):
        new.update(status="indexed", chunks_done=event.payload.chunks, chunks_total=event.payload.chunks)
    elif isinstance(event, DocumentRejected):
        new.update(status="rejected", reason=event.payload.reason)
    else:
        return None
    return new


class DatasetStore(Tables):
    """A tenant's named datasets, and each of their documents' progress."""

    datasets = Prefixed("datasets")
    documents = Prefixed("dataset_documents")

    def schema(self) -> tuple[str, ...]:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.datasets} (dataset_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,"
            " name TEXT NOT NULL, description TEXT NOT NULL, created_at TEXT NOT NULL)",
            f"CREATE UNIQUE INDEX IF NOT EXISTS {self.datasets}_by_name ON {self.datasets} (tenant_id, name)",
            f"CREATE TABLE IF NOT EXISTS {self.documents} (document_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,"
            " dataset_id TEXT NOT NULL, title TEXT NOT NULL, content_type TEXT NOT NULL, size INTEGER,"
            " status TEXT NOT NULL, reason TEXT, pages INTEGER, chunks_done INTEGER NOT NULL DEFAULT 0,"
            " chunks_total INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {self.documents}_by_dataset ON {self.documents} (tenant_id, dataset_id)",
        )

    def apply(self, ev: Event) -> None:
        """Fold one event into the datasets read model (events of other kinds are ignored)."""
        if isinstance(ev, DatasetCreated):
            created = ev.payload
            self.db.execute(
                f"INSERT INTO {self.datasets} (dataset_id, tenant_id, name, description, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (created.dataset_id, ev.tenant_id, created.name, created.description, ev.occurred_at.isoformat()),
            )
        elif isinstance(ev, DatasetDeleted):
            with self.db.transaction() as tx:
                args = (ev.tenant_id, ev.payload.dataset_id)
                tx.execute(f"DELETE FROM {self.documents} WHERE tenant_id = ? AND dataset_id = ?", args)
                tx.execute(f"DELETE FROM {self.datasets} WHERE tenant_id = ? AND dataset_id = ?", args)
        elif isinstance(ev, DocumentUploaded) and ev.payload.dataset_id:
            p = ev.payload
            size = p.stored.size if p.stored else len(p.content.encode())
            # Only into a dataset that still exists: an upload racing the dataset's deletion stays out.
            self.db.execute(
                f"INSERT INTO {self.documents} (document_id, tenant_id, dataset_id, title, content_type, size, status,"
                " created_at) SELECT ?, ?, ?, ?, ?, ?, 'queued', ?"
                f" WHERE EXISTS (SELECT 1 FROM {self.datasets} WHERE tenant_id = ? AND dataset_id = ?)"
                " ON CONFLICT DO NOTHING",
                (
                    p.document_id,
                    ev.tenant_id,
                    p.dataset_id,
                    p.title,
                    p.content_type,
                    size,
                    ev.occurred_at.isoformat(),
                    ev.tenant_id,
                    p.dataset_id,
                ),
            )
        elif isinstance(ev, DocumentUploaded):
            # A document of the tenant's corpus (no dataset): kept under dataset '' so the plan's
            # upload quota counts it; no dataset lists it.
            p = ev.payload
            self.db.execute(
                f"INSERT INTO {self.documents} (document_id, tenant_id, dataset_id, title, content_type, size, status,"
                " created_at) VALUES (?, ?, '', ?, ?, ?, 'queued', ?) ON CONFLICT DO NOTHING",
                (
                    p.document_id,
                    ev.tenant_id,
                    p.title,
                    p.content_type,
                    p.stored.size if p.stored else len(p.content.encode()),
                    ev.occurred_at.isoformat(),
                ),
            )
        elif isinstance(ev, DocumentProgress | DocumentIndexed | DocumentRejected):
            self._progress(ev)

    def _progress(self, ev: DocumentProgress | DocumentIndexed | DocumentRejected) -> None:
        with self.db.transaction() as tx:
            rows = tx.query(
                f"SELECT {', '.join(PROGRESS_FIELDS)} FROM {self.documents} WHERE document_id = ? AND tenant_id = ?",
                (ev.payload.document_id, ev.tenant_id),
            )
            if not rows:
                return  # not a dataset's document (or its dataset is gone)
            new = advance(dict(zip(PROGRESS_FIELDS, rows[0], strict=True)), ev)
            if new is None:
                return
            tx.execute(
                f"UPDATE {self.documents} SET {', '.join(f'{k} = ?' for k in PROGRESS_FIELDS)}"
                " WHERE document_id = ? AND tenant_id = ?",
                (*(new[k] for k in PROGRESS_FIELDS), ev.payload.document_id, ev.tenant_id),
            )

    def of_tenant(self, tenant_id: str) -> list[dict[str, Any]]:
        """The tenant's datasets by name, each with its documents counted by status."""
        rows = self.db.query(
            f"SELECT dataset_id, name, description, created_at FROM {self.datasets} WHERE tenant_id = ? ORDER BY name",
            (tenant_id,),
        )
        counts: dict[str, dict[str, int]] = {}
        for dataset_id, status, n in self.db.query(
            f"SELECT dataset_id, status, COUNT(*) FROM {self.documents} WHERE tenant_id = ? GROUP BY dataset_id, status",
            (tenant_id,),
        ):
            counts.setdefault(str(dataset_id), {})[str(status)] = int(n)
        keys = ("dataset_id", "name", "description", "created_at")
        return [
            dict(zip(keys, r, strict=True))
            | {"documents": sum(counts.get(str(r[0]), {}).values()), "by_status": counts.get(str(r[0]), {})}
            for r in rows
        ]

    def usage(self, tenant_id: str) -> tuple[int, int, int]:
        """(datasets, documents, bytes of documents) the tenant keeps, for its plan's quotas; the
        documents are its datasets' and its corpus's."""
        datasets = self.db.one(f"SELECT COUNT(*) FROM {self.datasets} WHERE tenant_id = ?", (tenant_id,))
        documents = self.db.one(
            f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM {self.documents} WHERE tenant_id = ?", (tenant_id,)
        )
        return (
            int(datasets[0]) if datasets else 0,
            int(documents[0]) if documents else 0,
            int(documents[1]) if documents else 0,
        )

    def has_documents(self, tenant_id: str) -> bool:
        """Whether the tenant keeps any document (`usage`'s count above 0), without counting them:
        every run admission asks."""
        return self.db.one(f"SELECT 1 FROM {self.documents} WHERE tenant_id = ? LIMIT 1", (tenant_id,)) is not None

    def find(self, tenant_id: str, name: str) -> dict[str, Any] | None:
        """The tenant's dataset of that name; None for anyone else's or none at all."""
        row = self.db.one(
            f"SELECT dataset_id, name, description, created_at FROM {self.datasets} WHERE tenant_id = ? AND name = ?",
            (tenant_id, name),
        )
        return None if row is None else dict(zip(("dataset_id", "name", "description", "created_at"), row, strict=True))

    def documents_of(self, tenant_id: str, dataset_id: str) -> list[dict[str, Any]]:
        """A dataset's documents, newest first, each with its ingestion status and progress."""
        keys = ("document_id", "title", "content_type", "size", *PROGRESS_FIELDS, "created_at")
        rows = self.db.query(
            f"SELECT {', '.join(keys)} FROM {self.documents} WHERE tenant_id = ? AND dataset_id = ?"
            " ORDER BY created_at DESC, document_id DESC",
            (tenant_id, dataset_id),
        )
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def rows(self) -> dict[str, dict[str, Any]]:
        """Every dataset and dataset document: what `quarry replay` may compare."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.db.query(f"SELECT dataset_id, tenant_id, name, description, created_at FROM {self.datasets}"):
            out[f"dataset:{r[0]}"] = dict(zip(("tenant_id", "name", "description", "created_at"), r[1:], strict=True))
        keys = ("tenant_id", "dataset_id", "title", "status", "chunks_total")
        for r in self.db.query(f"SELECT document_id, {', '.join(keys)} FROM {self.documents}"):
            out[f"document:{r[0]}"] = dict(zip(keys, r[1:], strict=True))
        return out

    def drop(self) -> None:
        for table in (self.documents, self.datasets):
            self.db.execute(f"DROP TABLE IF EXISTS {table}")
