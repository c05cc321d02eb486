"""The source index: every tenant's chunks in one Qdrant collection, searched by BM25 on a sparse vector.

With an embedder (optional: `services.retriever.embeddings`) each chunk also carries a dense vector
in the same point, and a search fuses the two rankings by reciprocal rank fusion, either in Qdrant
(Query API: two prefetches and an RRF query) or here (two queries, `fusion.rrf`). Every query, each
prefetch included, is filtered by tenant.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import threading
import uuid
import warnings
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from contracts.work import Passage
from quarry_runtime.errors import Unavailable
from services.retriever.chunking import Chunk, chunk_document
from services.retriever.corpus import Document
from services.retriever.embeddings import Embedder
from services.retriever.fusion import K as RRF_K
from services.retriever.fusion import rrf
from services.retriever.lexical import AVERAGE_CHUNK_TOKENS, SparseTerms, document_vector, query_vector

COLLECTION = "sources"
VECTOR = "bm25"
DENSE = "dense"
Fusion = Literal["qdrant", "client"]
# Candidates each ranking contributes to the fusion, per result asked for.
_PREFETCH_FACTOR = 4
_MIN_PREFETCH = 40
PUBLIC_TENANT = "_public"
"""Owner of the shipped sample corpus; every tenant's search also reads it."""
DATASET = "dataset_id"
"""The label that puts a tenant's document in one of its datasets."""

log = logging.getLogger(__name__)
_JOURNAL_MODES = frozenset({"delete", "truncate", "persist", "memory", "wal", "off"})

_POINT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:quarry:retriever:chunk")
_CHUNK_FIELDS = frozenset({"tenant_id", "doc_id", "title", "location", "heading", "text", "index"})

# One lock per client, not per index: local mode allows one client per path, so every index on
# that path shares the client, and the client's state is what needs guarding.
_client_locks: weakref.WeakKeyDictionary[QdrantClient, threading.RLock] = weakref.WeakKeyDictionary()
_client_locks_guard = threading.Lock()


def open_client(*, path: Path | None = None, url: str | None = None, api_key: str | None = None) -> QdrantClient:
    """A client on a local-mode directory or a Qdrant server; exactly one of `path` and `url`."""
    if (path is None) == (url is None):
        raise ValueError("give exactly one of path (local mode) or url (server)")
    return QdrantClient(path=str(path)) if path is not None else QdrantClient(url=url, api_key=api_key)


def is_local(client: QdrantClient) -> bool:
    """Whether the client runs Qdrant in-process (`:memory:` or a path) rather than talking to a server."""
    options = client.init_options
    return options.get("path") is not None or options.get("location") == ":memory:"


def client_lock(client: QdrantClient) -> threading.RLock:
    """The lock that serialises calls on a local-mode client, the same for every index using it."""
    with _client_locks_guard:
        lock = _client_locks.get(client)
        if lock is None:
            lock = _client_locks[client] = threading.RLock()
        return lock


def close_client(client: QdrantClient) -> None:
    """Close a client shared by several indexes, waiting for any call in flight on a local one."""
    with client_lock(client):
        client.close()


def collection_for(embedder: Embedder | None, base: str = COLLECTION) -> str:
    """The collection an index with this embedder uses: `base` when sparse only, one per model and size otherwise.

    Switching the model therefore starts a fresh collection (seeded again) instead of mixing vectors
    of two models; uploads made under the old model stay in its collection until indexed again.
    """
    if embedder is None:
        return base
    slug = re.sub(r"[^a-z0-9]+", "-", embedder.name.lower()).strip("-")
    return f"{base}-hybrid-{slug}-{embedder.dimension}"


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


def indexed_text(chunk: Chunk) -> str:
    """What the lexical vector of a chunk is built from: the text plus its document title and section."""
    # A later part of a section does not repeat the heading, yet a query naming the topic should find it.
    return f"{chunk.title}\n{chunk.heading}\n{chunk.text}"


def _sparse(terms: SparseTerms) -> models.SparseVector:
    return models.SparseVector(indices=terms.indices, values=terms.values)


def _tenant_filter(tenant_ids: Sequence[str], labels: Mapping[str, str] | None = None) -> models.Filter:
    return models.Filter(
        must=[
            models.FieldCondition(key="tenant_id", match=models.MatchAny(any=list(tenant_ids))),
            *_label_conditions(labels),
        ]
    )


def _scoped_filter(
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
    return models.Filter(must=_label_conditions(labels) or None, should=list(scopes))


def _label_conditions(labels: Mapping[str, str] | None) -> list[models.FieldCondition]:
    return [
        models.FieldCondition(key=key, match=models.MatchValue(value=value)) for key, value in (labels or {}).items()
    ]


def _check_labels(keys: Iterable[str]) -> None:
    clash = _CHUNK_FIELDS.intersection(keys)
    if clash:
        raise ValueError(f"labels cannot overwrite chunk fields: {sorted(clash)}")


def _document_filter(tenant_id: str, doc_id: str, *more: models.FieldCondition) -> models.Filter:
    return models.Filter(
        must=[
            models.FieldCondition(key="tenant_id", match=models.MatchValue(value=tenant_id)),
            models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id)),
            *more,
        ]
    )


class SourceIndex:
    """Chunks of every tenant's sources in one Qdrant collection, isolated by a `tenant_id` filter.

    Several indexes (collections) may share one client; the owner of a shared client closes it
    with `close_client`, and the indexes then leave it alone.
    """

    def __init__(
        self,
        client: QdrantClient | None = None,
        *,
        path: Path | None = None,
        url: str | None = None,
        api_key: str | None = None,
        collection: str = COLLECTION,
        avg_doc_len: float = AVERAGE_CHUNK_TOKENS,
        tenant_scoped_idf: bool = True,
        batch_size: int = 256,
        serialize: bool | None = None,
        label_fields: Sequence[str] = (),
        embedder: Embedder | None = None,
        fusion: Fusion = "qdrant",
    ) -> None:
        if sum(option is not None for option in (client, path, url)) != 1:
            raise ValueError("give exactly one of client, path (local mode) or url (server)")
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        _check_labels(label_fields)
        self._owns_client = client is None
        if client is None:
            client = open_client(path=path, url=url, api_key=api_key)
        self.client = client
        self.collection = collection
        self.avg_doc_len = avg_doc_len
        # Collection-wide IDF would let one tenant's uploads shift another tenant's scores, a side
        # channel on what others have stored. Scoping IDF to the searched tenants needs Qdrant >= 1.19
        # (client and server); turn it off against an older server.
        self.tenant_scoped_idf = tenant_scoped_idf
        self.batch_size = batch_size
        # Extra keyword payload fields (e.g. a memory chunk's run) that `add` may set and
        # `search` may filter on; they get payload indexes when the collection is created.
        self.label_fields = tuple(label_fields)
        # None: sparse only, exactly the BM25 path. Otherwise hybrid, fused where `fusion` says.
        self.embedder = embedder
        self.fusion = fusion
        # Local mode keeps its state in plain Python structures, unsafe under concurrent calls
        # (e.g. handlers using asyncio.to_thread); a server client is thread-safe by itself.
        if serialize is None:
            serialize = is_local(client)
        self._lock: AbstractContextManager[Any] = client_lock(client) if serialize else nullcontext()

    @contextlib.contextmanager
    def _server(self) -> Iterator[None]:
        """One call on the client: serialised in local mode, and a server that cannot be reached
        (no answer, or a proxy's 502/503/504) raised as an outage, which the bus waits out
        instead of counting against the task's message."""
        with self._lock:
            try:
                yield
            except ResponseHandlingException as exc:
                raise Unavailable(f"the vector store cannot be reached: {exc}") from exc
            except UnexpectedResponse as exc:
                if exc.status_code in (502, 503, 504):
                    raise Unavailable(f"the vector store is unavailable: {exc.status_code}") from exc
                raise

    def close(self) -> None:
        """Close the client if this index opened it."""
        if self._owns_client:
            with self._lock:
                self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def ensure_collection(self) -> None:
        """Create the collection and its payload indexes unless they exist; check an existing one fits."""
        with self._server():
            if not self.client.collection_exists(self.collection):
                try:
                    self.client.create_collection(
                        self.collection,
                        vectors_config=self._dense_config(),
                        sparse_vectors_config={VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                    )
                except (UnexpectedResponse, ValueError):
                    # another replica may have created it between the check and the create
                    if not self.client.collection_exists(self.collection):
                        raise
                self._create_payload_indexes()
            else:
                self._create_missing_label_indexes()
            self._check_schema()

    def _dense_config(self) -> dict[str, models.VectorParams]:
        if self.embedder is None:
            return {}
        return {DENSE: models.VectorParams(size=self.embedder.dimension, distance=models.Distance.COSINE)}

    def _create_payload_indexes(self) -> None:
        indexes: dict[str, Any] = {
            "tenant_id": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
            "doc_id": models.PayloadSchemaType.KEYWORD,
            "index": models.PayloadSchemaType.INTEGER,
            **dict.fromkeys(self.label_fields, models.PayloadSchemaType.KEYWORD),
        }
        with warnings.catch_warnings():
            # local mode says payload indexes do nothing there; they matter on a server
            warnings.simplefilter("ignore", UserWarning)
            for field, schema in indexes.items():
                self.client.create_payload_index(self.collection, field, field_schema=schema)

    def _create_missing_label_indexes(self) -> None:
        # A label declared after the collection was made (a dataset) still gets its index on a server.
        have = self.client.get_collection(self.collection).payload_schema or {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            for field in self.label_fields:
                if field not in have:
                    self.client.create_payload_index(
                        self.collection, field, field_schema=models.PayloadSchemaType.KEYWORD
                    )

    def _check_schema(self) -> None:
        config = self.client.get_collection(self.collection).config.params
        params = (config.sparse_vectors or {}).get(VECTOR)
        if params is None or params.modifier != models.Modifier.IDF:
            raise RuntimeError(
                f"collection {self.collection!r} exists without an IDF-modified sparse vector {VECTOR!r}"
            )
        if self.embedder is not None:
            dense = config.vectors.get(DENSE) if isinstance(config.vectors, dict) else None
            if dense is None or dense.size != self.embedder.dimension:
                raise RuntimeError(
                    f"collection {self.collection!r} has no dense vector {DENSE!r} of size "
                    f"{self.embedder.dimension} for {self.embedder.name}; a hybrid index needs a collection of its own"
                )

    def add(self, chunks: Iterable[Chunk], tenant_id: str, labels: Mapping[str, str] | None = None) -> int:
        """Upsert chunks for a tenant in batches, `labels` added to each payload; returns how many. Idempotent."""
        return self.add_prepared(self._prepared_batches(chunks), tenant_id, labels)

    def prepare(self, chunks: Iterable[Chunk]) -> list[Prepared]:
        """The chunks with the vectors `add` would store them under (this index's embedder, if any)."""
        return list(self._prepared_batches(chunks))

    def _prepared_batches(self, chunks: Iterable[Chunk]) -> Iterator[Prepared]:
        batch: list[Chunk] = []
        for chunk in chunks:
            batch.append(chunk)
            if len(batch) >= self.batch_size:
                yield from self._prepare_batch(batch)
                batch = []
        if batch:
            yield from self._prepare_batch(batch)

    def _prepare_batch(self, chunks: Sequence[Chunk]) -> list[Prepared]:
        sparse = [document_vector(indexed_text(chunk), self.avg_doc_len) for chunk in chunks]
        if self.embedder is None:
            return [Prepared(chunk, terms) for chunk, terms in zip(chunks, sparse, strict=True)]
        # One request per batch, outside the client lock: a model call must not stall searches.
        dense = self.embedder.embed_documents([indexed_text(chunk) for chunk in chunks])
        return [Prepared(c, t, v) for c, t, v in zip(chunks, sparse, dense, strict=True)]

    def add_prepared(
        self, prepared: Iterable[Prepared], tenant_id: str, labels: Mapping[str, str] | None = None
    ) -> int:
        """`add` for chunks whose vectors are already computed (`prepare`, or a cache of its results)."""
        if not tenant_id:
            raise ValueError("tenant_id must not be empty")
        self._check_declared(labels)
        written = 0
        batch: list[models.PointStruct] = []
        for item in prepared:
            batch.append(self._point(item, tenant_id, labels))
            if len(batch) >= self.batch_size:
                written += self._upsert(batch)
                batch = []
        if batch:
            written += self._upsert(batch)
        return written

    def _check_declared(self, labels: Mapping[str, str] | None) -> None:
        # Only declared fields have payload indexes, which a server needs to filter on them fast.
        undeclared = set(labels or ()).difference(self.label_fields)
        if undeclared:
            raise ValueError(f"labels not declared in label_fields: {sorted(undeclared)}")

    def _point(self, item: Prepared, tenant_id: str, labels: Mapping[str, str] | None) -> models.PointStruct:
        chunk = item.chunk
        vector: dict[str, Any] = {VECTOR: _sparse(item.sparse)}
        if self.embedder is not None:
            if item.dense is None or len(item.dense) != self.embedder.dimension:
                raise ValueError(
                    f"chunk {chunk.doc_id}#{chunk.index} lacks a dense vector of {self.embedder.dimension}"
                )
            vector[DENSE] = item.dense
        elif item.dense is not None:
            raise ValueError("a dense vector given to an index without an embedder")
        return models.PointStruct(
            id=point_id(tenant_id, chunk.doc_id, chunk.index),
            vector=vector,
            payload={
                "tenant_id": tenant_id,
                "doc_id": chunk.doc_id,
                "title": chunk.title,
                "location": chunk.location,
                "heading": chunk.heading,
                "text": chunk.text,
                "index": chunk.index,
                **(labels or {}),
            },
        )

    @contextlib.contextmanager
    def bulk_writes(self) -> Iterator[None]:
        """Writes that may be lost to a power cut, since they can be made again (a shipped corpus).

        Local mode commits every point to SQLite on its own, and each commit waits for the disk
        (fsync): seconds for the sample corpus on an idle disk, a minute on a busy one. For the
        duration the collection's file is in WAL mode with synchronous=NORMAL, which never
        corrupts it (a crash of the machine may undo the last commits, no more), then back as it
        was. With a server, or a client this cannot see into, nothing changes.
        """
        connection = self._local_sqlite()
        if connection is None:
            yield
            return
        with client_lock(self.client):
            try:
                journal = str(connection.execute("PRAGMA journal_mode").fetchone()[0]).lower()
                synchronous = int(connection.execute("PRAGMA synchronous").fetchone()[0])
                # NORMAL is safe in WAL mode only; a file system that cannot do WAL keeps FULL.
                if str(connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower() == "wal":
                    connection.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as exc:
                log.warning("bulk writes go at the usual pace: %s", exc)
                connection = None
        try:
            yield
        finally:
            if connection is not None:
                with client_lock(self.client):
                    connection.execute(f"PRAGMA synchronous={synchronous}")
                    if journal in _JOURNAL_MODES:
                        connection.execute(f"PRAGMA journal_mode={journal}")

    def _local_sqlite(self) -> sqlite3.Connection | None:
        """The SQLite connection under this collection in local mode; None with a server.

        qdrant-client keeps it in private attributes, so each step is checked: a release that
        moves them makes `bulk_writes` slow again, never wrong (a unit test notices).
        """
        local = getattr(self.client, "_client", None)
        collections = getattr(local, "collections", None)
        collection = collections.get(self.collection) if isinstance(collections, dict) else None
        connection = getattr(getattr(collection, "storage", None), "storage", None)
        return connection if isinstance(connection, sqlite3.Connection) else None

    def _upsert(self, batch: list[models.PointStruct]) -> int:
        with self._server():
            self.client.upsert(self.collection, points=batch, wait=True)
        return len(batch)

    def replace_document(self, tenant_id: str, doc_id: str, chunks: Sequence[Chunk]) -> int:
        """Make `chunks` the whole of a document: upsert them, then drop any left from a longer version."""
        if any(chunk.doc_id != doc_id for chunk in chunks):
            raise ValueError(f"every chunk must belong to {doc_id!r}")
        written = self.add(chunks, tenant_id)
        # Upserting first keeps the document searchable throughout the replacement.
        self.trim_document(tenant_id, doc_id, len(chunks))
        return written

    def trim_document(self, tenant_id: str, doc_id: str, keep: int) -> None:
        """Drop a document's chunks from number `keep` on: what is left of a longer earlier version."""
        stale = _document_filter(tenant_id, doc_id, models.FieldCondition(key="index", range=models.Range(gte=keep)))
        with self._server():
            self.client.delete(self.collection, points_selector=models.FilterSelector(filter=stale), wait=True)

    def delete_labelled(self, tenant_id: str, labels: Mapping[str, str]) -> None:
        """Remove every chunk the tenant has under `labels` (e.g. all of a dataset)."""
        if not labels:
            raise ValueError("labels must not be empty: the delete would take all the tenant's chunks")
        self._check_declared(labels)
        with self._server():
            self.client.delete(
                self.collection,
                points_selector=models.FilterSelector(filter=_tenant_filter([tenant_id], labels)),
                wait=True,
            )

    def replace_labelled(self, tenant_id: str, labels: Mapping[str, str], chunks: Sequence[Chunk]) -> int:
        """Make `chunks` the whole of what the tenant has under `labels`: upsert them, then drop the rest.

        A crash part-way leaves the new chunks plus some old ones, never fewer than before, and
        running it again converges: the ids are deterministic and the drop spares exactly them.
        """
        if not labels:
            raise ValueError("labels must not be empty: the drop would take all the tenant's chunks")
        written = self.add(chunks, tenant_id, labels)
        kept: list[models.ExtendedPointId] = [point_id(tenant_id, chunk.doc_id, chunk.index) for chunk in chunks]
        stale = models.Filter(
            must=_tenant_filter([tenant_id], labels).must,
            must_not=[models.HasIdCondition(has_id=kept)] if kept else None,
        )
        with self._server():
            self.client.delete(self.collection, points_selector=models.FilterSelector(filter=stale), wait=True)
        return written

    def delete_document(self, tenant_id: str, doc_id: str) -> None:
        """Remove every chunk of one of a tenant's documents."""
        with self._server():
            self.client.delete(
                self.collection,
                points_selector=models.FilterSelector(filter=_document_filter(tenant_id, doc_id)),
                wait=True,
            )

    def count(self, tenant_id: str, labels: Mapping[str, str] | None = None) -> int:
        """Number of chunks a tenant has in the index (under `labels`, if given)."""
        self._check_declared(labels)
        with self._server():
            result = self.client.count(self.collection, count_filter=_tenant_filter([tenant_id], labels), exact=True)
        return result.count

    def search(
        self,
        query: str,
        tenant_ids: Sequence[str],
        limit: int,
        labels: Mapping[str, str] | None = None,
        datasets: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Passage]:
        """Best matches among the given tenants' chunks (those under `labels`, if given), best first.

        `datasets` narrows a tenant it names to the chunks of the listed datasets (an empty list: none).
        BM25 alone without an embedder; BM25 and dense similarity fused by RRF with one.
        """
        self._check_declared(labels)
        terms = query_vector(query)
        if not tenant_ids or limit < 1 or not (terms.indices or (self.embedder is not None and query.strip())):
            return []
        tenants = _tenant_filter(tenant_ids)
        # IDF stays over the tenants' whole corpus: a label narrows what is returned, not how rare a term is.
        params = models.SearchParams(idf=models.IdfCorpusParams(corpus=tenants)) if self.tenant_scoped_idf else None
        if datasets:
            self._check_declared({DATASET: ""})
            if not any(datasets.get(tenant, True) for tenant in tenant_ids):
                return []
        where = _scoped_filter(tenant_ids, labels, datasets) if datasets else _tenant_filter(tenant_ids, labels)
        if self.embedder is None:
            with self._server():
                response = self.client.query_points(
                    self.collection,
                    query=_sparse(terms),
                    using=VECTOR,
                    query_filter=where,
                    search_params=params,
                    limit=limit,
                    with_payload=True,
                )
            return [_passage(point) for point in response.points]
        return self._hybrid(terms, self.embedder.embed_query(query), where, params, limit)

    def _hybrid(
        self,
        terms: SparseTerms,
        dense: list[float],
        where: models.Filter,
        params: models.SearchParams | None,
        limit: int,
    ) -> list[Passage]:
        candidates = max(limit * _PREFETCH_FACTOR, _MIN_PREFETCH)
        legs = [models.Prefetch(query=dense, using=DENSE, filter=where, limit=candidates)]
        if terms.indices:
            legs.insert(
                0, models.Prefetch(query=_sparse(terms), using=VECTOR, filter=where, params=params, limit=candidates)
            )
        if self.fusion == "qdrant":
            with self._server():
                response = self.client.query_points(
                    self.collection,
                    prefetch=legs,
                    query=models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
                    query_filter=where,
                    limit=limit,
                    with_payload=True,
                )
            return [_passage(point) for point in response.points]
        rankings: list[list[models.ScoredPoint]] = []
        for leg in legs:
            with self._server():
                response = self.client.query_points(
                    self.collection,
                    query=leg.query,
                    using=leg.using,
                    query_filter=where,
                    search_params=leg.params,
                    limit=candidates,
                    with_payload=True,
                )
            rankings.append(response.points)
        points = {point.id: point for ranking in rankings for point in ranking}
        fused = rrf([[point.id for point in ranking] for ranking in rankings])[:limit]
        return [_passage(points[pid], score) for pid, score in fused]


def _passage(point: models.ScoredPoint, score: float | None = None) -> Passage:
    payload = point.payload or {}
    return Passage(
        source_id=str(payload["doc_id"]),
        title=str(payload["title"]),
        location=str(payload["location"]),
        text=str(payload["text"]),
        score=float(point.score if score is None else score),
    )


def ingest_documents(index: SourceIndex, documents: Iterable[Document], tenant_id: str) -> int:
    """Chunk documents and add them for a tenant; returns the number of chunks written."""
    return index.add((chunk for document in documents for chunk in chunk_document(document)), tenant_id)
