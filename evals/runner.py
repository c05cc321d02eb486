"""Build an index per configuration (Qdrant local mode, as the retriever runs it) and evaluate every split."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.agents import EvalAgents
from evals.pipeline import BUILT_IN_AGENTS, QuestionResult, evaluate
from evals.questions import Question
from evals.summary import Summary, by_kind, summarise
from services.analyst.llm import ChatClient
from services.retriever.domain.corpus import Document
from services.retriever.embeddings import Embedder
from services.retriever.index import PUBLIC_TENANT, Fusion, SourceIndex, collection_for, ingest_documents


@dataclass(frozen=True)
class Configuration:
    """One way of retrieving: sparse only (the default) or hybrid with an embedder and a fusion site."""

    name: str
    embedder: Embedder | None = None
    fusion: Fusion = "qdrant"


@dataclass(frozen=True)
class SplitOutcome:
    results: list[QuestionResult]
    summary: Summary
    kinds: dict[str, Summary]
    eval_s: float


@dataclass(frozen=True)
class Outcome:
    configuration: Configuration
    splits: dict[str, SplitOutcome]
    chunks: int
    ingest_s: float


async def run(
    configuration: Configuration,
    corpus: Sequence[Document],
    splits: Mapping[str, Sequence[Question]],
    llm: ChatClient | None = None,
    agents: EvalAgents = BUILT_IN_AGENTS,
) -> Outcome:
    """Index the corpus into a fresh local-mode Qdrant directory, then put every question of every
    split through the pipeline (planning and writing by `llm` when given, each component as
    `agents` configures it)."""
    with tempfile.TemporaryDirectory(prefix="quarry-eval-") as tmp:
        index = SourceIndex(
            path=Path(tmp) / "qdrant",
            collection=collection_for(configuration.embedder),
            embedder=configuration.embedder,
            fusion=configuration.fusion,
        )
        try:
            index.ensure_collection()
            started = time.perf_counter()
            chunks = ingest_documents(index, corpus, PUBLIC_TENANT)
            ingest_s = time.perf_counter() - started
            outcomes: dict[str, SplitOutcome] = {}
            for name, questions in splits.items():
                started = time.perf_counter()
                results = [await evaluate(index, q, llm, n=n, agents=agents) for n, q in enumerate(questions)]
                outcomes[name] = SplitOutcome(
                    results, summarise(results), by_kind(results), time.perf_counter() - started
                )
        finally:
            index.close()
    return Outcome(configuration, outcomes, chunks, ingest_s)
