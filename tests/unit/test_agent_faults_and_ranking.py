"""Injected faults decided by hash (reproducible, at the configured share), and a ranker version's
parameters changing the ranking of a real index (and of fetched pages) from the built-in one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient

from contracts.agents import AgentConfig
from contracts.task import TaskDispatched, TaskDispatchedPayload
from contracts.work import SearchOutput
from quarry_runtime.agent_configs import fails
from services.retriever.application.tasks import execute
from services.retriever.domain.chunking import Chunk
from services.retriever.domain.errors import Refused
from services.retriever.domain.rank import rank_chunks
from services.retriever.domain.ranking import BUILT_IN, ranking_of
from services.retriever.index import PUBLIC_TENANT, SourceIndex, ingest_documents
from tests.unit.test_retriever_feedback import DOCS, QUESTION


def test_the_fault_is_the_same_for_the_same_attempt_and_near_its_rate_over_many() -> None:
    assert fails(0.5, "task-1", 1) == fails(0.5, "task-1", 1)
    share = sum(fails(0.3, f"task-{n}", 1) for n in range(10_000)) / 10_000
    assert 0.28 <= share <= 0.32
    assert not any(fails(0.0, f"task-{n}", 1) for n in range(1000))
    assert all(fails(1.0, f"task-{n}", a) for n in range(1000) for a in (1, 2))
    # Another attempt is another draw: a task failed at 50% is not doomed on every retry.
    assert any(fails(0.5, f"task-{n}", 1) != fails(0.5, f"task-{n}", 2) for n in range(100))


@pytest.fixture(scope="module")
def index() -> Iterator[SourceIndex]:
    built = SourceIndex(QdrantClient(":memory:"))
    built.ensure_collection()
    ingest_documents(built, DOCS, PUBLIC_TENANT)
    yield built
    built.client.close()


def ranker(**parameters: object) -> AgentConfig:
    return AgentConfig.model_validate({"mode": "offline", "parameters": parameters})


def ids(index: SourceIndex, config: AgentConfig | None) -> list[str]:
    ranking = None if config is None else ranking_of(config)
    return [p.source_id for p in index.search(QUESTION, [PUBLIC_TENANT], len(DOCS), ranking=ranking)]


def test_defaults_are_the_built_in_ranking(index: SourceIndex) -> None:
    assert ranking_of(ranker()) == BUILT_IN
    assert ids(index, ranker()) == ids(index, None)


def test_turning_expansion_off_or_weighting_it_changes_the_ranking(index: SourceIndex) -> None:
    built_in = ids(index, None)
    plain = ids(index, ranker(expansion=False))
    assert built_in.index("csv-dictreader") <= 3 and plain.index("csv-dictreader") == 5
    heavy = ids(index, ranker(expansion_weight=1.0, expansion_terms=20))
    assert heavy != built_in


async def test_a_search_task_ranks_by_its_version(index: SourceIndex) -> None:
    payload = TaskDispatchedPayload(
        task_id="t-search",
        kind="search",
        role="retriever",
        input={"question": QUESTION, "sub_question": QUESTION, "limit": len(DOCS), "sources": ["corpus"]},
    )
    task = TaskDispatched.create(payload, tenant_id="t1", run_id="r1")
    built_in = SearchOutput.model_validate((await execute(task, index, index)).output)
    plain = SearchOutput.model_validate(
        (await execute(task, index, index, None, ranking_of(ranker(expansion=False)))).output
    )
    order = [p.source_id for p in plain.passages]
    assert [p.source_id for p in built_in.passages] != order and order.index("csv-dictreader") == 5


def test_bm25_k1_and_b_reorder_fetched_chunks() -> None:
    short = Chunk("short", "A", "p1", "tides tides ocean", 0)
    long = Chunk("long", "B", "p1", "tides tides tides " + "filler words about something else entirely " * 12, 0)
    by_length = [c.doc_id for c, _ in rank_chunks("tides", [short, long])]
    unnormalised = ranking_of(ranker(bm25_b=0.0, bm25_k1=3.0))
    by_count = [c.doc_id for c, _ in rank_chunks("tides", [short, long], unnormalised.k1, unnormalised.b)]
    assert by_length == ["short", "long"] and by_count == ["long", "short"]


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (AgentConfig(mode="dense-magic"), "no mode"),
        (ranker(expansion_weight=2.0), "expansion_weight"),
        (ranker(expansion="yes"), "true or false"),
    ],
)
def test_a_ranker_configuration_it_cannot_run_is_refused_for_good(config: AgentConfig, words: str) -> None:
    with pytest.raises(Refused) as refused:
        ranking_of(config)
    assert not refused.value.retryable and words in str(refused.value)
