"""The eval gate's run: the offline evaluation of one split with agent configurations applied,
reduced to the metrics the gate judges (`contracts.agents.eval_failures`)."""

from __future__ import annotations

from collections.abc import Mapping

from contracts.agents import AgentConfig
from evals.agents import agents_of, gate_metrics
from evals.questions import load_splits
from evals.runner import Configuration, run
from services.analyst.llm import ChatClient
from services.retriever.domain.corpus import sample_corpus

# The retrieval the platform runs by default (no embedder): the gate judges what tenants get.
GATE_CONFIGURATION = Configuration("sparse (default)")


async def gate_metrics_for(
    configs: Mapping[str, AgentConfig], *, split: str = "test", questions: int = 0, llm: ChatClient | None = None
) -> dict[str, float]:
    """The gate's metrics for `configs` (component -> configuration; the others built in) over
    `split`, or its first `questions` questions when given (a quicker, rougher look)."""
    agents = agents_of(configs)  # refuses what no worker would run, before any work
    for component in agents.tunings:
        agents.model(component, llm)
    corpus = sample_corpus()
    splits = load_splits(corpus_ids={d.doc_id for d in corpus})
    if split not in splits:
        raise ValueError(f"no split {split!r}; there are {', '.join(splits)}")
    chosen = {split: splits[split][:questions] if questions else splits[split]}
    outcome = await run(GATE_CONFIGURATION, corpus, chosen, llm, agents)
    return gate_metrics(outcome.splits[split].summary)
