"""Build an index per configuration (Qdrant local mode, as the retriever runs it) and evaluate every question."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.pipeline import QuestionResult, Summary, evaluate, summarise
from evals.questions import Question
from services.retriever.domain.corpus import Document
from services.retriever.embeddings import Embedder
from services.retriever.index import PUBLIC_TENANT, Fusion, SourceIndex, collection_for, ingest_documents

TARGET_RECALL_AT_10 = 0.8
TARGET_CITATION_SUPPORT = 0.95


@dataclass(frozen=True)
class Configuration:
    """One way of retrieving: sparse only (the default) or hybrid with an embedder and a fusion site."""

    name: str
    embedder: Embedder | None = None
    fusion: Fusion = "qdrant"


@dataclass(frozen=True)
class Outcome:
    configuration: Configuration
    summary: Summary
    results: list[QuestionResult]
    chunks: int
    ingest_s: float
    eval_s: float

    def misses(self) -> list[str]:
        """The targets this configuration misses (held for the default offline path)."""
        s = self.summary
        missed = []
        if s.recall[10] < TARGET_RECALL_AT_10:
            missed.append(f"recall@10 {s.recall[10]:.3f} < {TARGET_RECALL_AT_10}")
        if s.citation_support < TARGET_CITATION_SUPPORT:
            missed.append(f"citation support {s.citation_support:.3f} < {TARGET_CITATION_SUPPORT}")
        if s.fabricated_rate > 0:
            missed.append(f"fabricated-citation rate {s.fabricated_rate:.3f} > 0")
        return missed


def run(configuration: Configuration, corpus: Sequence[Document], questions: Sequence[Question]) -> Outcome:
    """Index the corpus into a fresh local-mode Qdrant directory, then put every question through the pipeline."""
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
            ingested = time.perf_counter()
            results = [evaluate(index, q) for q in questions]
            done = time.perf_counter()
        finally:
            index.close()
    return Outcome(configuration, summarise(results), results, chunks, ingested - started, done - ingested)
