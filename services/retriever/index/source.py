"""The source index: every tenant's chunks in one Qdrant collection, searched by BM25 on a sparse vector.

With an embedder (optional: `services.retriever.embeddings`) each chunk also carries a dense vector
in the same point, and a search fuses the two rankings by reciprocal rank fusion, either in Qdrant
(Query API: two prefetches and an RRF query) or here (two queries, `fusion.rrf`). Every query, each
prefetch included, is filtered by tenant.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from contracts.work import Passage
from quarry_runtime.errors import Unavailable
from quarry_text import thesaurus
from services.retriever.domain.chunking import Chunk, chunk_document, indexed_text
from services.retriever.domain.corpus import Document
from services.retriever.domain.evidence import Evidence
from services.retriever.domain.feedback import Feedback
from services.retriever.domain.lexical import AVERAGE_CHUNK_TOKENS, document_vector, search_vector
from services.retriever.domain.ranking import Ranking
from services.retriever.embeddings import Embedder
from services.retriever.index import bulk, expansion, hybrid, schema
from services.retriever.index.client import client_lock, is_local, open_client
from services.retriever.index.hybrid import Fusion
from services.retriever.index.local_sparse import mirror_of, sparse_points
from services.retriever.index.points import (
    COLLECTION,
    DATASET,
    DENSE,
    VECTOR,
    Prepared,
    check_labels,
    document_filter,
    passage,
    point_id,
    scoped_filter,
    sparse_vector,
    tenant_filter,
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
        feedback: Feedback | None = Feedback(),
        evidence: Evidence | None = Evidence(),
    ) -> None:
        if sum(option is not None for option in (client, path, url)) != 1:
            raise ValueError("give exactly one of client, path (local mode) or url (server)")
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        check_labels(label_fields)
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
        # None: one sparse search with the query's own terms; otherwise the query is expanded first.
        self.feedback = feedback
        # None: the search's own order; otherwise each document's best passage rises by its document's evidence.
        self.evidence = evidence
        # Local mode keeps its state in plain Python structures, unsafe under concurrent calls
        # (e.g. handlers using asyncio.to_thread); a server client is thread-safe by itself.
        if serialize is None:
            serialize = is_local(client)
        self._lock: AbstractContextManager[Any] = client_lock(client) if serialize else nullcontext()
        self._mirror = mirror_of(client, collection, VECTOR) if is_local(client) else None
        self._sparse_points = partial(sparse_points, client, collection, self._server, self._mirror, VECTOR)

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
            schema.ensure_collection(self.client, self.collection, self.embedder, self.label_fields)
            self._written()

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
        sparse = [document_vector(indexed_text(chunk), self.avg_doc_len, chunk.lead) for chunk in chunks]
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
        vector: dict[str, Any] = {VECTOR: sparse_vector(item.sparse)}
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
                "lead": chunk.lead,
                "text": chunk.text,
                "index": chunk.index,
                **(labels or {}),
            },
        )

    def bulk_writes(self) -> AbstractContextManager[None]:
        """Writes that may be lost to a power cut, since they can be made again (see `bulk.bulk_writes`)."""
        return bulk.bulk_writes(self.client, self.collection)

    def _upsert(self, batch: list[models.PointStruct]) -> int:
        with self._server():
            self.client.upsert(self.collection, points=batch, wait=True)
            if self._mirror is not None:  # in the same hold of the lock: no search sees one without the other
                self._mirror.upserted(batch)
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
        self._delete(
            document_filter(tenant_id, doc_id, models.FieldCondition(key="index", range=models.Range(gte=keep)))
        )

    def delete_labelled(self, tenant_id: str, labels: Mapping[str, str]) -> None:
        """Remove every chunk the tenant has under `labels` (e.g. all of a dataset)."""
        if not labels:
            raise ValueError("labels must not be empty: the delete would take all the tenant's chunks")
        self._check_declared(labels)
        self._delete(tenant_filter([tenant_id], labels))

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
            must=tenant_filter([tenant_id], labels).must,
            must_not=[models.HasIdCondition(has_id=kept)] if kept else None,
        )
        self._delete(stale)
        return written

    def delete_document(self, tenant_id: str, doc_id: str) -> None:
        """Remove every chunk of one of a tenant's documents."""
        self._delete(document_filter(tenant_id, doc_id))

    def _delete(self, where: models.Filter) -> None:
        with self._server():
            self.client.delete(self.collection, points_selector=models.FilterSelector(filter=where), wait=True)
            self._written()

    def _written(self) -> None:
        # A write the mirror cannot follow point by point: it reads the collection again.
        if self._mirror is not None:
            self._mirror.invalidate()

    def count(self, tenant_id: str, labels: Mapping[str, str] | None = None) -> int:
        """Number of chunks a tenant has in the index (under `labels`, if given)."""
        self._check_declared(labels)
        with self._server():
            result = self.client.count(self.collection, count_filter=tenant_filter([tenant_id], labels), exact=True)
        return result.count

    def search(
        self,
        query: str,
        tenant_ids: Sequence[str],
        limit: int,
        labels: Mapping[str, str] | None = None,
        datasets: Mapping[str, Sequence[str]] | None = None,
        ranking: Ranking | None = None,
        context: str = "",
    ) -> list[Passage]:
        """Best matches among the given tenants' chunks (those under `labels`, if given), best first.

        `context` (the question a sub-question belongs to) adds its other terms, together at most half
        the query's weight (`lexical.in_context`); a dense model, which cannot weigh, reads both.

        `datasets` narrows a tenant it names to the chunks of the listed datasets (an empty list: none).
        BM25 alone without an embedder; BM25 and dense similarity fused by RRF with one.
        `ranking` (a ranker agent version's) replaces the index's own feedback, related weight and evidence.
        """
        self._check_declared(labels)
        terms = search_vector(query, context)
        if not tenant_ids or limit < 1 or not (terms.indices or (self.embedder is not None and query.strip())):
            return []
        tenants = tenant_filter(tenant_ids)
        # IDF stays over the tenants' whole corpus: a label narrows what is returned, not how rare a term is.
        params = models.SearchParams(idf=models.IdfCorpusParams(corpus=tenants)) if self.tenant_scoped_idf else None
        if datasets:
            self._check_declared({DATASET: ""})
            if not any(datasets.get(tenant, True) for tenant in tenant_ids):
                return []
        where = scoped_filter(tenant_ids, labels, datasets) if datasets else tenant_filter(tenant_ids, labels)
        feedback = self.feedback if ranking is None else ranking.feedback
        related = thesaurus.WEIGHT if ranking is None else ranking.related_weight
        evidence = self.evidence if ranking is None else ranking.evidence
        if feedback is not None and terms.indices:
            terms = expansion.expanded(self._sparse_points, query, feedback, where, params, related, context)
        wanted = limit if evidence is None else max(limit, evidence.depth)
        if self.embedder is None:
            found = [passage(point) for point in self._sparse_points(sparse_vector(terms), where, params, wanted, True)]
        else:
            dense = self.embedder.embed_query(f"{query} {context}".strip())
            found = hybrid.search(
                self.client, self.collection, self._server, self.fusion, terms, dense, where, params, wanted
            )
        return found[:limit] if evidence is None else evidence.rerank(found, limit)


def ingest_documents(index: SourceIndex, documents: Iterable[Document], tenant_id: str) -> int:
    """Chunk documents and add them for a tenant; returns the number of chunks written."""
    return index.add((chunk for document in documents for chunk in chunk_document(document)), tenant_id)
