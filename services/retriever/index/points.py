"""How a chunk is stored as a Qdrant point, and the filters that keep every query inside its tenants."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from qdrant_client import models

from contracts.work import Passage
from services.retriever.domain.chunking import Chunk
from services.retriever.domain.lexical import SparseTerms

COLLECTION = "sources"
VECTOR = "bm25"
DENSE = "dense"
PUBLIC_TENANT = "_public"
"""Owner of the shipped sample corpus; every tenant's search also reads it."""
DATASET = "dataset_id"
"""The label that puts a tenant's document in one of its datasets."""

_POINT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:quarry:retriever:chunk")
CHUNK_FIELDS = frozenset({"tenant_id", "doc_id", "title", "location", "heading", "lead", "text", "index"})


@dataclass(frozen=True, slots=True)
class Prepared:
    """A chunk with the vectors it is stored under: what `SourceIndex.prepare` computes."""

    chunk: Chunk
    sparse: SparseTerms
    dense: list[float] | None = None


def point_id(tenant_id: str, doc_id: str, index: int) -> str:
    """Deterministic point id of a chunk, so that ingesting the same chunk again overwrites it."""
    # The index is an int and tenant ids never hold \x1f, so no (tenant, doc_id) pair can take
    # another tenant's ids, whatever characters an uploaded doc_id carries.
    return str(uuid.uuid5(_POINT_NAMESPACE, f"{tenant_id}\x1f{doc_id}\x1f{index}"))


def sparse_vector(terms: SparseTerms) -> models.SparseVector:
    return models.SparseVector(indices=terms.indices, values=terms.values)


def tenant_filter(tenant_ids: Sequence[str], labels: Mapping[str, str] | None = None) -> models.Filter:
    return models.Filter(
        must=[
            models.FieldCondition(key="tenant_id", match=models.MatchAny(any=list(tenant_ids))),
            *label_conditions(labels),
        ]
    )


def scoped_filter(
    tenant_ids: Sequence[str], labels: Mapping[str, str] | None, datasets: Mapping[str, Sequence[str]]
) -> models.Filter:
    """Like `_tenant_filter`, but a tenant named in `datasets` is read only in the datasets listed for it."""
    scopes = [
        models.Filter(
            must=[
                models.FieldCondition(key="tenant_id", match=models.MatchValue(value=tenant)),
                *(
                    [models.FieldCondition(key=DATASET, match=models.MatchAny(any=list(datasets[tenant])))]
                    if tenant in datasets
                    else []
                ),
            ]
        )
        for tenant in tenant_ids
        if datasets.get(tenant, True)  # an empty list of datasets reads nothing of that tenant
    ]
    return models.Filter(must=label_conditions(labels) or None, should=list(scopes))


def label_conditions(labels: Mapping[str, str] | None) -> list[models.FieldCondition]:
    return [
        models.FieldCondition(key=key, match=models.MatchValue(value=value)) for key, value in (labels or {}).items()
    ]


def check_labels(keys: Iterable[str]) -> None:
    clash = CHUNK_FIELDS.intersection(keys)
    if clash:
        raise ValueError(f"labels cannot overwrite chunk fields: {sorted(clash)}")


def document_filter(tenant_id: str, doc_id: str, *more: models.FieldCondition) -> models.Filter:
    return models.Filter(
        must=[
            models.FieldCondition(key="tenant_id", match=models.MatchValue(value=tenant_id)),
            models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id)),
            *more,
        ]
    )


def passage(point: models.ScoredPoint, score: float | None = None) -> Passage:
    payload = point.payload or {}
    return Passage(
        source_id=str(payload["doc_id"]),
        title=str(payload["title"]),
        location=str(payload["location"]),
        text=str(payload["text"]),
        score=float(point.score if score is None else score),
    )
