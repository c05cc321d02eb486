"""The source index: every tenant's chunks in one Qdrant collection, searched by BM25 on a sparse vector."""

from services.retriever.domain.chunking import indexed_text
from services.retriever.index.client import client_lock, close_client, is_local, open_client
from services.retriever.index.hybrid import Fusion
from services.retriever.index.points import (
    COLLECTION,
    DATASET,
    DENSE,
    PUBLIC_TENANT,
    VECTOR,
    Prepared,
    point_id,
)
from services.retriever.index.schema import collection_for
from services.retriever.index.source import SourceIndex, ingest_documents

__all__ = [
    "COLLECTION",
    "DATASET",
    "DENSE",
    "PUBLIC_TENANT",
    "VECTOR",
    "Fusion",
    "Prepared",
    "SourceIndex",
    "client_lock",
    "close_client",
    "collection_for",
    "indexed_text",
    "ingest_documents",
    "is_local",
    "open_client",
    "point_id",
]
