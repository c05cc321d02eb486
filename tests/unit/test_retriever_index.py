"""The retriever's Qdrant index: search and ranking, tenants apart, idempotent writes, and its
schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from qdrant_client import QdrantClient, models

from contracts.work import Passage
from services.retriever.domain.chunking import Chunk, chunk_document
from services.retriever.domain.corpus import Document
from services.retriever.index import COLLECTION, PUBLIC_TENANT, SourceIndex, ingest_documents, point_id
from tests.support.corpus import corpus, filler_sentences, public_index, uploaded_document

__all__ = ["corpus", "public_index"]  # fixtures

# --- index ------------------------------------------------------------------------------------


def _ids(passages: list[Passage]) -> list[str]:
    return [p.source_id for p in passages]


def test_search_finds_the_with_statement(public_index: SourceIndex) -> None:
    passages = public_index.search("how does the with statement work", ["acme", PUBLIC_TENANT], 5)
    assert len(passages) == 5
    assert "pydoc:topic:with" in _ids(passages)
    hit = next(p for p in passages if p.source_id == "pydoc:topic:with")
    assert hit.title == "Python reference: with"
    assert hit.location.startswith('§ The "with" statement')
    assert "with" in hit.text
    scores = [p.score for p in passages]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0


def test_search_ranks_specific_module_docs(public_index: SourceIndex) -> None:
    passages = public_index.search("json dumps indent", [PUBLIC_TENANT], 3)
    assert set(_ids(passages)) == {"pydoc:module:json"}
    assert public_index.search("zzyzx qwxv", [PUBLIC_TENANT], 5) == []
    assert public_index.search("the of", [PUBLIC_TENANT], 5) == []  # nothing left to match
    assert public_index.search("json", [], 5) == []


def test_tenants_are_isolated(public_index: SourceIndex) -> None:
    secret = uploaded_document("upload:a:1", "Quokkazebra migration plan. " + filler_sentences(5), "A's secret")
    ingest_documents(public_index, [secret], "tenant-a")
    found_by_a = public_index.search("quokkazebra migration", ["tenant-a", PUBLIC_TENANT], 5)
    assert _ids(found_by_a)[0] == "upload:a:1"
    found_by_b = public_index.search("quokkazebra migration", ["tenant-b", PUBLIC_TENANT], 50)
    assert "upload:a:1" not in _ids(found_by_b)
    assert public_index.search("quokkazebra", ["tenant-b", PUBLIC_TENANT], 50) == []
    assert public_index.count("tenant-b") == 0
    # the public corpus is there for everyone
    assert "pydoc:topic:with" in _ids(public_index.search("with statement", ["tenant-b", PUBLIC_TENANT], 5))


def test_re_adding_is_idempotent(public_index: SourceIndex, corpus: list[Document]) -> None:
    before = public_index.count(PUBLIC_TENANT)
    assert before == sum(len(chunk_document(d)) for d in corpus)
    written = ingest_documents(public_index, corpus[:20], PUBLIC_TENANT)
    assert written > 20
    assert public_index.count(PUBLIC_TENANT) == before
    assert point_id("t", "d", 0) == point_id("t", "d", 0) != point_id("u", "d", 0)


def test_replace_and_delete_document() -> None:
    with SourceIndex(QdrantClient(":memory:")) as index:
        index.ensure_collection()
        long = chunk_document(uploaded_document("doc", "\n\n".join(filler_sentences(8, "old") for _ in range(10))))
        short = chunk_document(uploaded_document("doc", filler_sentences(3, "fresh")))
        assert len(long) > 3 and len(short) == 1
        index.add(long, "t1")
        index.add(long, "t2")
        assert index.replace_document("t1", "doc", short) == 1
        assert index.count("t1") == 1
        assert _ids(index.search("fresh", ["t1"], 5)) == ["doc"]
        assert index.search("old", ["t1"], 5) == []
        assert index.count("t2") == len(long)  # another tenant's copy of the same doc id is untouched
        index.delete_document("t1", "doc")
        assert index.count("t1") == 0 and index.count("t2") == len(long)
        with pytest.raises(ValueError):
            index.replace_document("t1", "other", short)


def test_idf_is_scoped_to_the_searching_tenants(corpus: list[Document]) -> None:
    """With tenant-scoped IDF, what another tenant uploads cannot move my scores."""
    client = QdrantClient(":memory:")
    scoped = SourceIndex(client)
    unscoped = SourceIndex(client, tenant_scoped_idf=False)
    scoped.ensure_collection()
    ingest_documents(scoped, corpus[:40], PUBLIC_TENANT)
    query = "assert statement"

    def scores(index: SourceIndex) -> list[float]:
        return [p.score for p in index.search(query, ["tenant-b", PUBLIC_TENANT], 5)]

    scoped_before, unscoped_before = scores(scoped), scores(unscoped)
    assert scoped_before == pytest.approx(unscoped_before)  # same corpus, same statistics
    flood = [uploaded_document(f"flood-{i}", "assert assert statement " + filler_sentences(2)) for i in range(200)]
    ingest_documents(scoped, flood, "tenant-a")
    assert scores(scoped) == pytest.approx(scoped_before)
    assert scores(unscoped) != pytest.approx(unscoped_before)
    client.close()


def test_ensure_collection_is_idempotent_and_checks_schema() -> None:
    client = QdrantClient(":memory:")
    index = SourceIndex(client)
    index.ensure_collection()
    index.ensure_collection()
    sparse = client.get_collection(COLLECTION).config.params.sparse_vectors
    assert sparse is not None and sparse["bm25"].modifier == models.Modifier.IDF
    client.create_collection("plain", vectors_config={}, sparse_vectors_config={"bm25": models.SparseVectorParams()})
    with pytest.raises(RuntimeError, match="IDF"):
        SourceIndex(client, collection="plain").ensure_collection()
    with pytest.raises(ValueError):
        SourceIndex()
    with pytest.raises(ValueError):
        SourceIndex(client, url="http://localhost:6333")


def test_local_mode_persists_across_reopen(tmp_path: Path, corpus: list[Document]) -> None:
    documents = [d for d in corpus if d.doc_id in {"pydoc:topic:with", "pydoc:topic:assert"}]
    with SourceIndex(path=tmp_path / "qdrant") as index:
        index.ensure_collection()
        written = ingest_documents(index, documents, PUBLIC_TENANT)
    with SourceIndex(path=tmp_path / "qdrant") as reopened:
        reopened.ensure_collection()
        assert reopened.count(PUBLIC_TENANT) == written
        assert _ids(reopened.search("with statement context manager", [PUBLIC_TENANT], 1)) == ["pydoc:topic:with"]


def test_chunk_payload_round_trips_to_passage(public_index: SourceIndex) -> None:
    chunk = Chunk(doc_id="note-1", title="Note", location="§ Top, part 1", text="Flibbertigibbet.", index=0)
    assert public_index.add([chunk], "tenant-c") == 1
    [passage] = public_index.search("flibbertigibbet", ["tenant-c"], 3)
    assert passage == Passage(
        source_id="note-1",
        title="Note",
        location="§ Top, part 1",
        text="Flibbertigibbet.",
        score=passage.score,
    )
    assert passage.score > 0
