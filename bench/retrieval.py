"""Retrieval: ingestion throughput and search latency of `SourceIndex` beside raw qdrant-client calls, same run.

Chunks are synthetic but realistic: each is 3 to 7 sentences drawn at random from the shipped
sample corpus (Python's own documentation), eight chunks to a document, under one tenant.

* ingest, ours: `SourceIndex.add` (BM25 term weights from the text, batching, the upsert), into
  one collection.
* ingest, raw: `client.upsert` of the same points, vectors built before the clock starts, in
  batches of the same size, into a second collection of the same configuration. The difference is
  what our code costs on top of Qdrant (mostly tokenising).
* search, ours: `SourceIndex.search` (query vector, tenant filter, tenant-scoped IDF, payload to
  `Passage`), which by default queries twice: once for the feedback that expands the query, once
  with the expanded vector; raw: one `client.query_points` with the unexpanded sparse vector, filter
  and IDF parameters, on the same collection. Rounds alternate ours and raw after an uncounted warm-up.

Qdrant runs in local mode, in memory (no server here). Local mode is a pure-Python brute-force
engine meant for tests and small corpora: its search cost grows linearly with the points, so at
100k chunks a search takes seconds on either side. Give `QUARRY_QDRANT_URL` to measure a server.
"""

from __future__ import annotations

import os
import random
import time
import warnings
from collections.abc import Callable

from qdrant_client import QdrantClient, models
from rich.console import Console

from bench.report import Latency, SummaryRow, latency_table, ratio
from services.analyst.domain.text import split_sentences
from services.retriever.domain.chunking import Chunk
from services.retriever.domain.corpus import sample_corpus
from services.retriever.domain.lexical import document_vector, query_vector
from services.retriever.index import PUBLIC_TENANT, VECTOR, SourceIndex, indexed_text

TENANT = "bench-tenant"
BATCH = 256


def run(console: Console, chunks: int = 100_000, searches: int = 10) -> list[SummaryRow]:
    console.rule(f"[bold]Retrieval: {chunks:,} chunks, ingestion and search, ours beside raw qdrant-client")
    rng = random.Random(20261125)
    sentences = [s for d in sample_corpus() for s in split_sentences(d.text) if 40 <= len(s) <= 300]
    corpus = [_chunk(i, sentences, rng) for i in range(chunks)]
    queries = [" ".join(rng.choice(sentences).split()[:8]) for _ in range(searches + 2)]
    url = os.environ.get("QUARRY_QDRANT_URL")
    client = QdrantClient(url=url, api_key=os.environ.get("QUARRY_QDRANT_API_KEY")) if url else QdrantClient(":memory:")
    console.print(f"Qdrant: {url or 'local mode, in memory'}; {len(sentences):,} source sentences")
    ours = SourceIndex(client, collection="bench_ours", batch_size=BATCH)
    raw = SourceIndex(client, collection="bench_raw", batch_size=BATCH)
    # Local mode warns past 20k points; the docstring says why it is measured anyway.
    warnings.filterwarnings("ignore", message="Local mode is not recommended", category=UserWarning)
    try:
        for index in (ours, raw):
            if client.collection_exists(index.collection):
                client.delete_collection(index.collection)
            index.ensure_collection()
        started = time.perf_counter()
        ours.add(corpus, TENANT)
        ours_s = time.perf_counter() - started
        points = [_raw_point(chunk) for chunk in corpus]
        started = time.perf_counter()
        for start in range(0, len(points), BATCH):
            client.upsert(raw.collection, points=points[start : start + BATCH], wait=True)
        raw_s = time.perf_counter() - started
        ours_lat, raw_lat = _searches(ours, client, queries)
    finally:
        for index in (ours, raw):
            client.delete_collection(index.collection)
        client.close()

    ours_rate, raw_rate = chunks / ours_s, chunks / raw_s
    console.print(
        f"ingest: ours {ours_rate:,.0f} chunks/s ({ours_s:.1f} s), raw upsert of pre-built points "
        f"{raw_rate:,.0f} chunks/s ({raw_s:.1f} s): ours takes {ratio(raw_rate, ours_rate):.2f}x the time"
    )
    console.print(
        latency_table(
            f"search at {chunks:,} chunks, top 8, tenant filter + tenant-scoped IDF",
            [("SourceIndex.search", ours_lat, ()), ("raw query_points", raw_lat, ())],
        )
    )
    where = f"{chunks // 1000}k chunks"
    return [
        SummaryRow("retrieval", f"ingest, ours ({where})", f"{ours_rate:,.0f} chunks/s"),
        SummaryRow("retrieval", f"ingest, raw upsert ({where})", f"{raw_rate:,.0f} chunks/s"),
        SummaryRow("retrieval", f"search p50 / p95, ours ({where})", f"{ours_lat.p50:.1f} / {ours_lat.p95:.1f} ms"),
        SummaryRow("retrieval", f"search p50 / p95, raw ({where})", f"{raw_lat.p50:.1f} / {raw_lat.p95:.1f} ms"),
    ]


def _chunk(i: int, sentences: list[str], rng: random.Random) -> Chunk:
    doc, part = divmod(i, 8)
    text = " ".join(rng.choice(sentences) for _ in range(rng.randint(3, 7)))
    heading = rng.choice(sentences)[:60]
    return Chunk(doc_id=f"synthetic:{doc}", title=f"Synthetic document {doc}", location=f"§ {heading}, part {part + 1}",
                 text=text, index=part, heading=heading)  # fmt: skip


def _raw_point(chunk: Chunk) -> models.PointStruct:
    terms = document_vector(indexed_text(chunk))
    return models.PointStruct(
        id=chunk_id(chunk),
        vector={VECTOR: models.SparseVector(indices=terms.indices, values=terms.values)},
        payload={"tenant_id": TENANT, "doc_id": chunk.doc_id, "title": chunk.title, "location": chunk.location,
                 "heading": chunk.heading, "text": chunk.text, "index": chunk.index},
    )  # fmt: skip


def chunk_id(chunk: Chunk) -> int:
    doc = int(chunk.doc_id.rsplit(":", 1)[1])
    return doc * 8 + chunk.index


def _searches(ours: SourceIndex, client: QdrantClient, queries: list[str]) -> tuple[Latency, Latency]:
    tenants = [TENANT, PUBLIC_TENANT]
    where = models.Filter(must=[models.FieldCondition(key="tenant_id", match=models.MatchAny(any=tenants))])
    params = models.SearchParams(idf=models.IdfCorpusParams(corpus=where))

    def mine(q: str) -> object:
        return ours.search(q, tenants, 8)

    def raw(q: str) -> object:
        terms = query_vector(q)
        vector = models.SparseVector(indices=terms.indices, values=terms.values)
        return client.query_points(
            ours.collection, query=vector, using=VECTOR, query_filter=where, search_params=params, limit=8,
            with_payload=True,
        )  # fmt: skip

    samples: dict[str, list[float]] = {"ours": [], "raw": []}
    sides: list[tuple[str, Callable[[str], object]]] = [("ours", mine), ("raw", raw)]
    for n, q in enumerate(queries):
        for name, call in sides if n % 2 == 0 else reversed(sides):
            started = time.perf_counter()
            call(q)
            if n >= 2:  # the first two rounds warm caches up
                samples[name].append((time.perf_counter() - started) * 1000)
    return Latency.of(samples["ours"]), Latency.of(samples["raw"])
