"""The collection an index writes to: created with its payload indexes, or checked to fit when it exists."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from quarry_text import ANALYSIS_VERSION
from services.retriever.embeddings import Embedder
from services.retriever.index.points import COLLECTION, DENSE, VECTOR


def collection_for(embedder: Embedder | None, base: str = COLLECTION, analysis: str = ANALYSIS_VERSION) -> str:
    """The collection an index with this text analysis and embedder uses: one per analysis version, model and size.

    Changing the analysis (the terms of the sparse vectors) or the model therefore starts a fresh
    collection (seeded again) instead of searching vectors of one with queries of the other; uploads
    made before stay in the old collection until indexed again.
    """
    name = f"{base}-{analysis}"
    if embedder is None:
        return name
    slug = re.sub(r"[^a-z0-9]+", "-", embedder.name.lower()).strip("-")
    return f"{name}-hybrid-{slug}-{embedder.dimension}"


def ensure_collection(
    client: QdrantClient, collection: str, embedder: Embedder | None, label_fields: Sequence[str]
) -> None:
    """Create the collection and its payload indexes unless they exist; check an existing one fits."""
    if not client.collection_exists(collection):
        try:
            client.create_collection(
                collection,
                vectors_config=_dense_config(embedder),
                sparse_vectors_config={VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            )
        except (UnexpectedResponse, ValueError):
            # another replica may have created it between the check and the create
            if not client.collection_exists(collection):
                raise
        _create_payload_indexes(client, collection, label_fields)
    else:
        _create_missing_label_indexes(client, collection, label_fields)
    _check_schema(client, collection, embedder)


def _dense_config(embedder: Embedder | None) -> dict[str, models.VectorParams]:
    if embedder is None:
        return {}
    return {DENSE: models.VectorParams(size=embedder.dimension, distance=models.Distance.COSINE)}


def _create_payload_indexes(client: QdrantClient, collection: str, label_fields: Sequence[str]) -> None:
    indexes: dict[str, Any] = {
        "tenant_id": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
        "doc_id": models.PayloadSchemaType.KEYWORD,
        "index": models.PayloadSchemaType.INTEGER,
        **dict.fromkeys(label_fields, models.PayloadSchemaType.KEYWORD),
    }
    with warnings.catch_warnings():
        # local mode says payload indexes do nothing there; they matter on a server
        warnings.simplefilter("ignore", UserWarning)
        for field, schema in indexes.items():
            client.create_payload_index(collection, field, field_schema=schema)


def _create_missing_label_indexes(client: QdrantClient, collection: str, label_fields: Sequence[str]) -> None:
    # A label declared after the collection was made (a dataset) still gets its index on a server.
    have = client.get_collection(collection).payload_schema or {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for field in label_fields:
            if field not in have:
                client.create_payload_index(collection, field, field_schema=models.PayloadSchemaType.KEYWORD)


def _check_schema(client: QdrantClient, collection: str, embedder: Embedder | None) -> None:
    config = client.get_collection(collection).config.params
    params = (config.sparse_vectors or {}).get(VECTOR)
    if params is None or params.modifier != models.Modifier.IDF:
        raise RuntimeError(f"collection {collection!r} exists without an IDF-modified sparse vector {VECTOR!r}")
    if embedder is not None:
        dense = config.vectors.get(DENSE) if isinstance(config.vectors, dict) else None
        if dense is None or dense.size != embedder.dimension:
            raise RuntimeError(
                f"collection {collection!r} has no dense vector {DENSE!r} of size "
                f"{embedder.dimension} for {embedder.name}; a hybrid index needs a collection of its own"
            )
