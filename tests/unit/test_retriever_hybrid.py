"""Dense embeddings and hybrid retrieval: the OpenAI-compatible client against a local server that speaks
the protocol, sparse + dense vectors in one Qdrant collection, RRF in Qdrant and client-side, tenant filters."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from qdrant_client import QdrantClient, models

from quarry_text import ANALYSIS_VERSION
from services.retriever.domain.corpus import Document, sample_corpus
from services.retriever.domain.fusion import rrf
from services.retriever.domain.lexical import query_vector
from services.retriever.embeddings import EmbeddingError, OpenAIEmbeddings, build_embedder, load_fastembed
from services.retriever.index import (
    COLLECTION,
    PUBLIC_TENANT,
    VECTOR,
    SourceIndex,
    collection_for,
    ingest_documents,
)
from tests.fakes.embeddings import API_KEY, MODEL, FakeEmbeddings, serve

MODULES = ("json", "heapq", "bisect", "copy", "csv", "hashlib", "hmac", "secrets")


@pytest.fixture(scope="module")
def fake() -> FakeEmbeddings:
    return FakeEmbeddings(dimension=128)


@pytest.fixture(scope="module")
def url(fake: FakeEmbeddings) -> Iterator[str]:
    with serve(fake) as base:
        yield base


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    return [d for d in sample_corpus(MODULES) if d.doc_id.startswith("pydoc:module:")]


def _client(url: str, **kw: object) -> OpenAIEmbeddings:
    return OpenAIEmbeddings(url, model=MODEL, api_key=API_KEY, sleep=lambda _s: None, **kw)  # type: ignore[arg-type]


# --- the embeddings client ---------------------------------------------------------------------------


def test_client_batches_keeps_order_and_learns_the_dimension(fake: FakeEmbeddings, url: str) -> None:
    client = _client(url, batch_size=3)
    before = fake.requests
    assert client.dimension == 128
    texts = [f"text number {i} about heaps" for i in range(7)]
    vectors = client.embed_documents(texts)
    assert fake.requests - before == 1 + 3  # the probe, then ceil(7 / 3) batches
    assert [round(sum(v * v for v in vec), 6) for vec in vectors] == [1.0] * 7
    assert vectors[4] == client.embed_query(texts[4])  # each vector is its own text's, in order
    client.close()


def test_client_retries_overload_and_reports_refusals(fake: FakeEmbeddings, url: str) -> None:
    client = _client(url, attempts=3)
    fake.fail_next[:] = [503, 429]
    assert len(client.embed_query("retried until served")) == 128
    fake.fail_next[:] = [503, 503, 503]
    with pytest.raises(EmbeddingError, match="answered HTTP 503: injected failure 503") as exc:
        client.embed_query("never served")
    assert exc.value.status == 503
    fake.fail_next.clear()
    wrong = OpenAIEmbeddings(url, model=MODEL, api_key="sk-wrong")
    with pytest.raises(EmbeddingError, match="401: Incorrect API key") as refused:
        wrong.embed_query("x")
    assert refused.value.status == 401
    unknown = OpenAIEmbeddings(url, model="no-such-model", api_key=API_KEY)
    with pytest.raises(EmbeddingError, match="404"):
        unknown.embed_query("x")
    with pytest.raises(EmbeddingError, match="unreachable"):
        OpenAIEmbeddings("http://127.0.0.1:9/v1", model=MODEL, attempts=1).embed_query("x")


def test_embedder_settings_are_checked() -> None:
    assert build_embedder("none") is None
    with pytest.raises(ValueError, match="QUARRY_EMBEDDINGS_URL"):
        build_embedder("openai", model=MODEL)
    with pytest.raises(ValueError, match="http"):
        OpenAIEmbeddings("ftp://x", model=MODEL)
    loaded = load_fastembed()
    if isinstance(loaded, str):  # no download here: without the package or its model it says so
        assert "not installed" in loaded or "not present" in loaded
        with pytest.raises(ValueError, match="fastembed"):
            build_embedder("fastembed")


# --- fusion --------------------------------------------------------------------------------------------


def test_rrf_rewards_agreement_and_is_deterministic() -> None:
    fused = rrf([["a", "b", "c"], ["c", "b", "d"]])
    # Found by both lists beats found by one; among those, a first and a third place edge two seconds.
    assert [item for item, _ in fused] == ["c", "b", "a", "d"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 63) and fused[1][1] == pytest.approx(2 / 62)
    assert rrf([["x", "y"], ["y", "x"]]) == [("x", 1 / 61 + 1 / 62), ("y", 1 / 62 + 1 / 61)]
    with pytest.raises(ValueError):
        rrf([["a"]], k=-1)


# --- the hybrid index ------------------------------------------------------------------------------------


def _hybrid(url: str, fusion: str, path: Path | None = None) -> SourceIndex:
    embedder = _client(url)
    client = QdrantClient(path=str(path)) if path else QdrantClient(":memory:")
    index = SourceIndex(client, collection=collection_for(embedder), embedder=embedder, fusion=fusion)  # type: ignore[arg-type]
    index.ensure_collection()
    return index


@pytest.mark.parametrize("fusion", ["qdrant", "client"])
def test_hybrid_search_finds_by_meaning_and_words_within_the_tenant(
    url: str, docs: list[Document], fusion: str
) -> None:
    index = _hybrid(url, fusion)
    assert index.collection == f"{COLLECTION}-{ANALYSIS_VERSION}-hybrid-{MODEL}-128"
    assert ingest_documents(index, docs, PUBLIC_TENANT) > len(docs)
    secret = Document(
        "acme:plan", "Acme plan", "The heap of Acme invoices is kept sorted by the bisect module at night."
    )
    ingest_documents(index, [secret], "acme")
    hits = index.search("insert into a sorted list and keep it sorted", [PUBLIC_TENANT], 5)
    assert hits and hits[0].source_id == "pydoc:module:bisect"
    assert hits == sorted(hits, key=lambda p: -p.score)
    # Another tenant's chunk matches both legs well, yet only its own tenant ever sees it.
    assert "acme:plan" not in {
        p.source_id for p in index.search("Acme invoices heap bisect", [PUBLIC_TENANT, "other"], 20)
    }
    assert index.search("Acme invoices heap bisect", ["acme"], 3)[0].source_id == "acme:plan"
    assert index.search("Acme invoices", ["nobody"], 5) == []
    index.close()


def test_both_fusion_sites_rank_alike(url: str, docs: list[Document]) -> None:
    in_qdrant, client_side = _hybrid(url, "qdrant"), _hybrid(url, "client")
    for index in (in_qdrant, client_side):
        ingest_documents(index, docs, PUBLIC_TENANT)
    for query in ("message authentication with a secret key", "serialise objects as JSON text", "smallest item"):
        a = [(p.source_id, p.location) for p in in_qdrant.search(query, [PUBLIC_TENANT], 8)]
        b = [(p.source_id, p.location) for p in client_side.search(query, [PUBLIC_TENANT], 8)]
        assert a[:3] == b[:3]
        assert len(set(a) & set(b)) >= 6


def test_the_default_index_is_the_sparse_path_and_refuses_to_mix(
    url: str, docs: list[Document], tmp_path: Path
) -> None:
    client = QdrantClient(path=str(tmp_path / "q"))
    # without feedback and document evidence, a search is one BM25 query with the question's own terms
    sparse = SourceIndex(client, collection=collection_for(None), feedback=None, evidence=None)
    sparse.ensure_collection()
    ingest_documents(sparse, docs, PUBLIC_TENANT)
    query = "keep a list sorted"
    raw = client.query_points(sparse.collection, query=query_vector_model(query), using=VECTOR, limit=5)
    assert [(p.source_id, p.score) for p in sparse.search(query, [PUBLIC_TENANT], 5)] == [
        (str((pt.payload or {})["doc_id"]), pt.score) for pt in raw.points
    ]
    # A hybrid index over the sparse-only collection would store vectors of two kinds in one: refused.
    mixed = SourceIndex(client, collection=sparse.collection, embedder=_client(url))
    with pytest.raises(RuntimeError, match="needs a collection of its own"):
        mixed.ensure_collection()
    client.close()


def query_vector_model(query: str) -> models.SparseVector:
    terms = query_vector(query)
    return models.SparseVector(indices=terms.indices, values=terms.values)


class _Heard:
    """The embeddings client, noting each query it is asked to embed."""

    def __init__(self, inner: OpenAIEmbeddings) -> None:
        self.inner = inner
        self.queries: list[str] = []

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        self.queries.append(text)
        return self.inner.embed_query(text)


def test_the_dense_leg_reads_a_sub_question_with_its_question(url: str, docs: list[Document]) -> None:
    # The sparse leg weighs the question's other terms down; a dense model cannot, so it reads both.
    embedder = _Heard(_client(url))
    index = SourceIndex(QdrantClient(":memory:"), collection=collection_for(embedder), embedder=embedder)
    index.ensure_collection()
    ingest_documents(index, docs, PUBLIC_TENANT)
    question = "How do I keep a list sorted and find where to insert?"
    assert index.search("Where do I insert?", [PUBLIC_TENANT], 3, context=question)
    assert index.search("keep a list sorted", [PUBLIC_TENANT], 3)
    assert embedder.queries == [f"Where do I insert? {question}", "keep a list sorted"]
    index.close()
