"""The sample corpus seeded from a cache of its chunks and vectors: hits, misses, and files not to trust."""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from quarry_text import ANALYSIS_VERSION
from services.retriever import seeding
from services.retriever.domain.chunking import chunk_document
from services.retriever.domain.corpus import Document, sample_corpus
from services.retriever.embeddings import OpenAIEmbeddings
from services.retriever.index import PUBLIC_TENANT, SourceIndex, collection_for, ingest_documents
from services.retriever.index.bulk import local_sqlite
from services.retriever.seeding import STALE_S, CorpusCache, cache_key, prepared_corpus, seed_sample_corpus
from tests.fakes.embeddings import API_KEY, MODEL, FakeEmbeddings, serve

MODULES = ("json", "heapq", "bisect", "csv")


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    """A few modules' documents: the whole sample corpus would only make each test slower."""
    return [d for d in sample_corpus(MODULES) if d.doc_id.startswith("pydoc:module:")]


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SourceIndex]:
    """A local-mode index on disk, as the retriever runs without a Qdrant server."""
    with SourceIndex(path=tmp_path / "qdrant", label_fields=("dataset_id",)) as idx:
        idx.ensure_collection()
        yield idx


def _stored(cache: CorpusCache, key: dict[str, Any]) -> dict[str, Any]:
    with gzip.open(cache.path(key), "rt", encoding="utf-8") as f:
        stored: dict[str, Any] = json.load(f)
    return stored


def _rewrite(cache: CorpusCache, key: dict[str, Any], stored: dict[str, Any]) -> None:
    with gzip.open(cache.path(key), "wt", encoding="utf-8") as f:
        json.dump(stored, f)


def test_a_miss_computes_and_stores_and_a_hit_reads_the_file(
    index: SourceIndex, docs: list[Document], tmp_path: Path
) -> None:
    cache = CorpusCache(tmp_path / "cache")
    key = cache_key(docs, index)
    assert cache.load(key) is None
    computed = prepared_corpus(index, docs, cache)
    assert computed == index.prepare(chunk for d in docs for chunk in chunk_document(d))
    assert cache.path(key).is_file()
    assert [p.name for p in cache.directory.iterdir()] == [cache.path(key).name]  # no temporary left behind
    assert CorpusCache(cache.directory).load(key) == computed

    # The next start uses the file, not a new computation: an edit to it (still well formed) shows.
    stored = _stored(cache, key)
    stored["entries"][0]["text"] = "edited in the cache"
    _rewrite(cache, key, stored)
    assert prepared_corpus(index, docs, cache)[0].chunk.text == "edited in the cache"


def test_corrupt_files_are_recomputed_and_rewritten(index: SourceIndex, docs: list[Document], tmp_path: Path) -> None:
    cache = CorpusCache(tmp_path / "cache")
    key = cache_key(docs, index)
    computed = prepared_corpus(index, docs, cache)
    whole = cache.path(key).read_bytes()
    for damaged in (whole[: len(whole) // 2], b"not gzip at all", gzip.compress(b"{not json"), b""):
        cache.path(key).write_bytes(damaged)
        assert cache.load(key) is None
        assert prepared_corpus(index, docs, cache) == computed
        assert cache.load(key) == computed  # written again, whole


@pytest.mark.parametrize(
    ("what", "edit"),
    [
        ("another key inside", lambda s: s["key"].update(corpus="0" * 64)),
        ("no entries", lambda s: s.update(entries=[])),
        ("entries not a list", lambda s: s.update(entries={"a": 1})),
        ("a field missing", lambda s: s["entries"][0].pop("text")),
        ("an index not an int", lambda s: s["entries"][0].update(index="0")),
        ("term ids out of order", lambda s: s["entries"][0]["indices"].reverse()),
        ("term ids repeated", lambda s: s["entries"][0].update(indices=[1, 1], values=[0.5, 0.5])),
        ("a term id past 32 bits", lambda s: s["entries"][0].update(indices=[2**32], values=[0.5])),
        ("weights and ids of different lengths", lambda s: s["entries"][0]["values"].pop()),
        ("a weight not finite", lambda s: s["entries"][0]["values"].__setitem__(0, float("nan"))),
        ("a weight a string", lambda s: s["entries"][0]["values"].__setitem__(0, "1.0")),
        ("a dense vector in a sparse cache", lambda s: s["entries"][0].update(dense=[0.1, 0.2])),
    ],
)
def test_files_not_matching_their_key_or_shape_are_ignored(
    index: SourceIndex, docs: list[Document], tmp_path: Path, what: str, edit: Any
) -> None:
    cache = CorpusCache(tmp_path / "cache")
    key = cache_key(docs, index)
    computed = prepared_corpus(index, docs, cache)
    stored = _stored(cache, key)
    edit(stored)
    _rewrite(cache, key, stored)
    assert cache.load(key) is None, what
    assert prepared_corpus(index, docs, cache) == computed, what


def test_files_unused_for_a_month_are_dropped_when_one_is_written(
    index: SourceIndex, docs: list[Document], tmp_path: Path
) -> None:
    cache = CorpusCache(tmp_path / "cache")
    cache.directory.mkdir()
    stale, recent, unrelated = (
        cache.directory / name for name in ("sample-corpus-old.json.gz", "sample-corpus-new.json.gz", "notes.txt")
    )
    for path in (stale, recent, unrelated):
        path.write_bytes(b"x")
    long_ago = time.time() - STALE_S - 3600
    os.utime(stale, (long_ago, long_ago))
    os.utime(unrelated, (long_ago, long_ago))
    prepared_corpus(index, docs, cache)
    assert sorted(p.name for p in cache.directory.iterdir()) == sorted(
        [cache.path(cache_key(docs, index)).name, recent.name, unrelated.name]
    )
    # A file read at start-up counts as used.
    os.utime(cache.path(cache_key(docs, index)), (long_ago, long_ago))
    assert cache.load(cache_key(docs, index)) is not None
    assert cache.path(cache_key(docs, index)).stat().st_mtime > long_ago + 3600


def test_the_key_follows_the_corpus_and_the_scoring(index: SourceIndex, docs: list[Document], tmp_path: Path) -> None:
    key = cache_key(docs, index)
    again = [d for d in sample_corpus(MODULES) if d.doc_id.startswith("pydoc:module:")]
    assert cache_key(again, index) == key  # deterministic from one call to the next
    edited = [Document(d.doc_id, d.title, d.text + " more", d.content_type) for d in docs]
    assert cache_key(edited, index)["corpus"] != key["corpus"]
    assert cache_key(docs[1:], index) != key
    other = SourceIndex(index.client, collection="other", avg_doc_len=50.0)
    assert cache_key(docs, other) != key
    cache = CorpusCache(tmp_path / "cache")
    prepared_corpus(index, docs, cache)
    assert cache.load(cache_key(docs, other)) is None  # another file, not this one's entries


def test_an_unwritable_cache_directory_costs_only_time(
    index: SourceIndex, docs: list[Document], tmp_path: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("the cache directory cannot be made under a file")
    cache = CorpusCache(blocked / "cache")
    assert prepared_corpus(index, docs, cache) == prepared_corpus(index, docs, None)
    assert cache.load(cache_key(docs, index)) is None


def test_seeding_from_the_cache_indexes_what_ingesting_does(
    index: SourceIndex, docs: list[Document], tmp_path: Path
) -> None:
    cache = CorpusCache(tmp_path / "cache")
    prepared_corpus(index, docs, cache)  # an earlier start left the file
    written = seed_sample_corpus(index, cache, docs)
    assert written == index.count(PUBLIC_TENANT) > 0

    with SourceIndex(path=tmp_path / "direct") as direct:
        direct.ensure_collection()
        assert ingest_documents(direct, docs, PUBLIC_TENANT) == written
        for query in ("parse a JSON document", "heap queue push pop", "binary search insertion point", "csv dialect"):
            assert index.search(query, [PUBLIC_TENANT], 5) == direct.search(query, [PUBLIC_TENANT], 5)

    assert seed_sample_corpus(index, cache, docs) == 0  # all there: nothing written


def test_a_partly_seeded_corpus_is_completed(index: SourceIndex, docs: list[Document], tmp_path: Path) -> None:
    cache = CorpusCache(tmp_path / "cache")
    total = seed_sample_corpus(index, cache, docs)
    # A start killed part-way: the chunks of some documents never made it.
    lost = docs[-3:]
    for document in lost:
        index.delete_document(PUBLIC_TENANT, document.doc_id)
    missing = sum(len(chunk_document(document)) for document in lost)
    assert missing > 0 and index.count(PUBLIC_TENANT) == total - missing
    assert seed_sample_corpus(index, cache, docs) == total
    assert index.count(PUBLIC_TENANT) == total


def test_bulk_writes_relax_local_syncing_only_while_they_last(index: SourceIndex) -> None:
    # qdrant-client keeps the SQLite connection in private attributes: a release that moves
    # them would make seeding slow again, and this says so.
    connection = local_sqlite(index.client, index.collection)
    assert connection is not None, "the local collection's SQLite connection is out of reach"
    before = (connection.execute("PRAGMA journal_mode").fetchone(), connection.execute("PRAGMA synchronous").fetchone())
    with index.bulk_writes():
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    after = (connection.execute("PRAGMA journal_mode").fetchone(), connection.execute("PRAGMA synchronous").fetchone())
    assert after == before


def test_a_hybrid_cache_spares_the_embedding_model(tmp_path: Path, docs: list[Document]) -> None:
    fake = FakeEmbeddings(dimension=64)
    with serve(fake) as url:
        embedder = OpenAIEmbeddings(url, model=MODEL, api_key=API_KEY, dimension=64, sleep=lambda _s: None)
        with SourceIndex(path=tmp_path / "qdrant", embedder=embedder, collection="hybrid") as index:
            index.ensure_collection()
            cache = CorpusCache(tmp_path / "cache")
            first = seed_sample_corpus(index, cache, docs)
            asked = fake.inputs
            assert first > 0 and asked >= first
            key = cache_key(docs, index)
            assert key["embedder"] == MODEL and key["dimension"] == 64

            with SourceIndex(path=tmp_path / "replica", embedder=embedder, collection="hybrid") as replica:
                replica.ensure_collection()
                assert seed_sample_corpus(replica, cache, docs) == first
                assert fake.inputs == asked  # every vector came from the cache
                query = "parse a JSON document"
                assert replica.search(query, [PUBLIC_TENANT], 5) == index.search(query, [PUBLIC_TENANT], 5)

            # A dense vector of the wrong size is not trusted.
            stored = _stored(cache, key)
            stored["entries"][0]["dense"] = stored["entries"][0]["dense"][:-1]
            _rewrite(cache, key, stored)
            assert cache.load(key) is None
        embedder.close()


def test_an_index_built_under_another_analysis_is_left_alone_and_a_fresh_one_is_seeded(
    docs: list[Document], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = QdrantClient(path=str(tmp_path / "q"))
    try:
        # what a retriever of the previous analysis left: its collection, fully seeded
        old = SourceIndex(client, collection=collection_for(None, analysis="previous"))
        old.ensure_collection()
        seeded = ingest_documents(old, docs, PUBLIC_TENANT)
        upgraded = SourceIndex(client, collection=collection_for(None))
        assert upgraded.collection != old.collection and upgraded.collection.endswith(ANALYSIS_VERSION)
        upgraded.ensure_collection()
        assert seed_sample_corpus(upgraded, CorpusCache(tmp_path / "cache"), docs) == seeded
        assert upgraded.count(PUBLIC_TENANT) == old.count(PUBLIC_TENANT) == seeded
        # the cached vectors are keyed by the analysis too, so an upgrade never reads the old ones
        key = cache_key(docs, upgraded)
        monkeypatch.setattr(seeding, "ANALYSIS_VERSION", "previous")
        assert cache_key(docs, upgraded) != key
    finally:
        client.close()
