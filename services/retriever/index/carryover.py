"""Carrying what tenants stored over from the collection of an earlier text analysis.

A collection's name holds the analysis version (`schema.collection_for`), so an upgraded retriever
starts a fresh one and seeds the shipped corpus into it again. What tenants put in the old one
(their uploads, the memory of their runs) is copied here instead of being left unsearchable: the
sparse vector computed anew from the stored text, the dense vector kept (a predecessor has the
same model and size, or its name would differ), payload and point id unchanged. The old
collection is deleted once all of it is copied: a start that dies half way copies again (the same
ids, so the same points), and nothing deleted after the upgrade can come back from it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from qdrant_client import models

from quarry_text import ANALYSIS_VERSION
from services.retriever.domain.chunking import Chunk, indexed_text
from services.retriever.domain.lexical import document_vector
from services.retriever.index.client import client_lock
from services.retriever.index.points import CHUNK_FIELDS, DENSE, PUBLIC_TENANT, Prepared
from services.retriever.index.source import SourceIndex

log = logging.getLogger(__name__)

PAGE = 256


def predecessors(existing: Iterable[str], collection: str, analysis: str = ANALYSIS_VERSION) -> list[str]:
    """The collections in `existing` that hold `collection`'s points under another analysis: the
    same base and embedder suffix, with an older version or none (the names before versions)."""
    marker = f"-{analysis}"
    if marker not in collection:
        return []
    base, _, suffix = collection.partition(marker)
    # A version is one token of lower-case letters and digits; "hybrid-..." is the embedder's suffix.
    pattern = re.compile(rf"{re.escape(base)}(?:-(?!hybrid-)[a-z0-9]+)?{re.escape(suffix)}")
    return sorted(name for name in existing if name != collection and pattern.fullmatch(name))


def not_public(payload: Mapping[str, Any]) -> bool:
    """Every chunk but the shipped corpus's, which seeding writes again."""
    return payload.get("tenant_id") != PUBLIC_TENANT


def carry_over(index: SourceIndex, keep: Callable[[Mapping[str, Any]], bool] = not_public) -> int:
    """Copy the points `keep` accepts from every predecessor of `index`'s collection, then delete
    the predecessor; how many points were copied."""
    client = index.client
    with client_lock(client):
        existing = [c.name for c in client.get_collections().collections]
    copied = 0
    for old in predecessors(existing, index.collection):
        moved = _copy(index, old, keep)
        with client_lock(client):
            client.delete_collection(old)
        log.info("carried %d points over from %s to %s", moved, old, index.collection)
        copied += moved
    return copied


def _copy(index: SourceIndex, old: str, keep: Callable[[Mapping[str, Any]], bool]) -> int:
    client = index.client
    dense = index.embedder is not None
    offset: models.ExtendedPointId | None = None
    copied = 0
    while True:
        with client_lock(client):
            points, offset = client.scroll(
                old, limit=PAGE, offset=offset, with_payload=True, with_vectors=[DENSE] if dense else False
            )
        groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[Prepared]] = {}
        for point in points:
            payload = point.payload or {}
            if not keep(payload):
                continue
            chunk = Chunk(
                doc_id=str(payload["doc_id"]),
                title=str(payload["title"]),
                location=str(payload["location"]),
                text=str(payload["text"]),
                index=int(payload["index"]),
                heading=str(payload.get("heading", "")),
                lead=str(payload.get("lead", "")),
            )
            labels = tuple(sorted((k, str(v)) for k, v in payload.items() if k not in CHUNK_FIELDS))
            stored = point.vector.get(DENSE) if dense and isinstance(point.vector, dict) else None
            vector = [float(x) for x in stored] if isinstance(stored, list) else None  # type: ignore[arg-type]
            prepared = Prepared(chunk, document_vector(indexed_text(chunk), index.avg_doc_len, chunk.lead), vector)
            groups.setdefault((str(payload["tenant_id"]), labels), []).append(prepared)
        for (tenant_id, labels), batch in groups.items():
            copied += index.add_prepared(batch, tenant_id, dict(labels) or None)
        if offset is None:
            return copied
