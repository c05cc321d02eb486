"""The documents read model: one row per uploaded document and how its indexing ended."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts.document import DocumentUploaded
from quarry_runtime.store import SqlDatabase


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Documents:
    """The documents table `GatewayStore` names."""

    db: SqlDatabase
    documents: str

    def record_document_uploaded(self, event: DocumentUploaded) -> None:
        """The document's row, from its upload event: the gateway at upload time and a rebuild write the same row."""
        p = event.payload
        self.add_document(p.document_id, event.tenant_id, p.title, p.content_type, created_at=event.occurred_at)

    def add_document(
        self, document_id: str, tenant_id: str, title: str, content_type: str, *, created_at: datetime | None = None
    ) -> None:
        # Without the event's time the row cannot be rebuilt identically: prefer record_document_uploaded.
        self.db.execute(
            f"INSERT INTO {self.documents} (document_id, tenant_id, title, content_type, status, created_at)"
            " VALUES (?, ?, ?, ?, 'uploaded', ?) ON CONFLICT (document_id) DO NOTHING",
            (document_id, tenant_id, title, content_type, created_at.isoformat() if created_at else _now()),
        )

    def set_document_status(
        self, document_id: str, tenant_id: str, status: str, chunks: int, reason: str | None
    ) -> None:
        self.db.execute(
            f"UPDATE {self.documents} SET status = ?, chunks = ?, reason = ? WHERE document_id = ? AND tenant_id = ?",
            (status, chunks, reason, document_id, tenant_id),
        )

    def list_documents(self, tenant_id: str) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT document_id, title, content_type, status, chunks, reason, created_at"
            f" FROM {self.documents} WHERE tenant_id = ? ORDER BY created_at DESC",
            (tenant_id,),
        )
        keys = ("document_id", "title", "content_type", "status", "chunks", "reason", "created_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def document_rows(self) -> dict[str, dict[str, Any]]:
        """Every document's row: what `quarry replay` compares."""
        rows = self.db.query(
            f"SELECT document_id, tenant_id, title, content_type, status, chunks, reason, created_at FROM {self.documents}"
        )
        keys = ("tenant_id", "title", "content_type", "status", "chunks", "reason", "created_at")
        return {str(r[0]): dict(zip(keys, r[1:], strict=True)) for r in rows}
