"""The local-mode mirror answers a sparse query as Qdrant's local mode does: the same points with
the same scores and payloads, under the same tenant filters and IDF corpus, before and after the
writes `SourceIndex` makes; what it cannot evaluate, the client answers."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby

import pytest
from qdrant_client import QdrantClient, models

from evals.questions import load_splits
from services.retriever.domain.chunking import chunk_document
from services.retriever.domain.corpus import Document, sample_corpus
from services.retriever.domain.lexical import search_vector
from services.retriever.index import PUBLIC_TENANT, SourceIndex
from services.retriever.index.local_sparse import Unsupported, mirror_of
from services.retriever.index.points import DATASET, VECTOR, sparse_vector, tenant_filter

ACME = "acme"
SECRET = Document("payroll", "Payroll", "Acme payroll rows are exported as dictionaries; the csv reader reads them.")


@pytest.fixture(scope="module")
def index() -> Iterator[SourceIndex]:
    index = SourceIndex(QdrantClient(":memory:"), label_fields=(DATASET,))
    index.ensure_collection()
    corpus = sample_corpus()[:120]
    index.add((c for d in corpus for c in chunk_document(d)), PUBLIC_TENANT)
    index.add(chunk_document(SECRET), ACME, {DATASET: "hr"})
    index.add(chunk_document(corpus[0]), ACME, {DATASET: "copies"})
    yield index
    index.client.close()


QUESTIONS = [q.question for q in load_splits()["dev"][:40]]
READERS = [[PUBLIC_TENANT], [ACME], [PUBLIC_TENANT, ACME]]


def _by_score(points: list[models.ScoredPoint]) -> list[tuple[float, list[tuple[str, object]]]]:
    # Points of equal score may come in either order: local mode's own order of them is arbitrary.
    return [
        (score, sorted(((str(p.id), p.payload) for p in group), key=lambda pair: pair[0]))
        for score, group in groupby(points, key=lambda p: p.score)
    ]


def _both(index: SourceIndex, question: str, readers: list[str], where: models.Filter, limit: int) -> None:
    query = sparse_vector(search_vector(question))
    params = models.SearchParams(idf=models.IdfCorpusParams(corpus=tenant_filter(readers)))
    mirror = mirror_of(index.client, index.collection, VECTOR)
    mine = mirror.query(query, where, tenant_filter(readers), limit, True)
    theirs = index.client.query_points(
        index.collection, query=query, using=VECTOR, query_filter=where, search_params=params, limit=limit
    ).points
    # A cut at `limit` may split a group of equal scores; compare whole groups only.
    assert _by_score(mine)[:-1] == _by_score(list(theirs))[:-1], question
    assert [p.score for p in mine] == [p.score for p in theirs]


@pytest.mark.parametrize("readers", READERS)
def test_a_query_scores_and_filters_as_local_mode_does(index: SourceIndex, readers: list[str]) -> None:
    for question in QUESTIONS:
        _both(index, question, readers, tenant_filter(readers), 30)


def test_labels_and_datasets_filter_as_local_mode_does(index: SourceIndex) -> None:
    labelled = tenant_filter([ACME], {DATASET: "hr"})
    scoped = models.Filter(should=[labelled, tenant_filter([PUBLIC_TENANT])])
    for question in ("How are payroll rows exported as dictionaries?", *QUESTIONS[:10]):
        _both(index, question, [ACME], labelled, 10)
        _both(index, question, [PUBLIC_TENANT, ACME], scoped, 10)


def test_a_tenant_never_reads_another_s_points(index: SourceIndex) -> None:
    found = index.search("payroll rows exported as dictionaries", [PUBLIC_TENANT], 50)
    assert found and all(p.source_id != "payroll" for p in found)
    assert any(p.source_id == "payroll" for p in index.search("payroll rows", [ACME], 5))


def test_the_mirror_follows_every_write() -> None:
    index = SourceIndex(QdrantClient(":memory:"), label_fields=(DATASET,))
    index.ensure_collection()
    try:
        corpus = sample_corpus()[:30]
        index.add((c for d in corpus for c in chunk_document(d)), PUBLIC_TENANT)
        question = "How are payroll rows exported?"
        assert index.search(question, [ACME], 5) == []
        index.add(chunk_document(SECRET), ACME, {DATASET: "hr"})  # after the mirror was read
        assert [p.source_id for p in index.search(question, [ACME], 5)] == ["payroll"]
        for write in (
            lambda: index.replace_labelled(ACME, {DATASET: "hr"}, chunk_document(corpus[1])),
            lambda: index.delete_document(PUBLIC_TENANT, corpus[2].doc_id),
            lambda: index.trim_document(PUBLIC_TENANT, corpus[3].doc_id, 1),
            lambda: index.delete_labelled(ACME, {DATASET: "hr"}),
        ):
            write()
            for readers in READERS:
                for q in (question, *QUESTIONS[:5]):
                    _both(index, q, readers, tenant_filter(readers), 20)
        assert index.search(question, [ACME], 5) == []
    finally:
        index.client.close()


def test_what_the_mirror_cannot_evaluate_the_client_answers(index: SourceIndex) -> None:
    mirror = mirror_of(index.client, index.collection, VECTOR)
    ranged = models.Filter(must=[models.FieldCondition(key="index", range=models.Range(gte=1))])
    query = sparse_vector(search_vector("How do I read rows as dictionaries?"))
    with pytest.raises(Unsupported):
        mirror.query(query, ranged, None, 10, True)
    answered = index._sparse_points(query, ranged, None, 10, True)
    assert answered and all(int((p.payload or {})["index"]) >= 1 for p in answered)
