"""python -m evals: both splits (dev, tuned on; test, never tuned on), per kind: recall@5/@10, key
term in report and in summary, answer relevance, citation support, fabricated citations, fact coverage.

Offline by default: the analyst's rules plan and write, retrieval is sparse (BM25). With
QUARRY_LLM_BASE_URL set (and QUARRY_LLM_MODEL, QUARRY_LLM_API_KEY as the analyst reads them), the
analyst's live planning and synthesis write instead, through the same code the analyst runs. A
hybrid configuration runs for each embedding model that is available: an OpenAI-compatible server
named by QUARRY_EMBEDDINGS_URL and QUARRY_EMBEDDINGS_MODEL (or the flags), and fastembed with its
model already on disk. Exits 1 when the default configuration's TEST split misses a target:
recall@10 >= 0.9, key term in report >= 0.9 and in summary >= 0.7, citation support >= 0.98, no
fabricated citation.

With `--agent COMPONENT=FILE.json` (repeatable) the components run those agent configurations,
as workers run a task naming them (injected faults left out), and the eval gate's metrics of the
default configuration's test split are printed (and written with `--metrics-out`): what
`quarry operator evaluate` posts for a version.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from rich.console import Console

from evals.agents import AgentSpecError, EvalAgents, agents_of, gate_metrics, parse_spec
from evals.questions import SPLITS, load_splits
from evals.report import print_outcome, print_questions
from evals.runner import Configuration, Outcome, run
from evals.summary import TEST_TARGETS
from services.analyst.bootstrap import AnalystSettings, chat_client
from services.analyst.llm import ChatClient
from services.retriever.domain.corpus import sample_corpus
from services.retriever.embeddings import OpenAIEmbeddings, load_fastembed


def _configurations(args: argparse.Namespace, console: Console) -> list[Configuration]:
    configurations = [Configuration("sparse (default)")]
    if args.embeddings_url and args.embeddings_model:
        remote = OpenAIEmbeddings(args.embeddings_url, model=args.embeddings_model, api_key=args.embeddings_api_key)
        configurations += [
            Configuration(f"hybrid {args.embeddings_model}, RRF in Qdrant", remote, "qdrant"),
            Configuration(f"hybrid {args.embeddings_model}, RRF client-side", remote, "client"),
        ]
    else:
        console.print("hybrid (OpenAI-compatible embeddings): not configured (QUARRY_EMBEDDINGS_URL / _MODEL)")
    local = load_fastembed(args.fastembed_model) if args.fastembed_model else load_fastembed()
    if isinstance(local, str):
        console.print(f"hybrid (fastembed): {local}")
    else:
        configurations.append(Configuration(f"hybrid fastembed {local.name}, RRF in Qdrant", local, "qdrant"))
    return configurations


def _model(args: argparse.Namespace) -> ChatClient | None:
    """The analyst's own live client when a model endpoint is configured, else None (offline)."""
    if args.offline or not os.environ.get("QUARRY_LLM_BASE_URL"):
        return None
    return chat_client(AnalystSettings(mode="live"))


async def _evaluate(args: argparse.Namespace, console: Console, agents: EvalAgents) -> list[Outcome]:
    corpus = sample_corpus()
    splits = load_splits(corpus_ids={d.doc_id for d in corpus})
    splits = {name: qs[: args.questions] if args.questions else qs for name, qs in splits.items() if name in args.split}
    for name, questions in splits.items():
        kinds = ", ".join(sorted({q.kind for q in questions}))
        console.print(f"{name}: {len(questions)} questions ({kinds}) over {len(corpus)} documents")
    llm = _model(args)
    for component in agents.tunings:
        agents.model(component, llm)  # a configuration needing a model it will not have: refused now
    analyst = f"live ({llm.model} at {llm.url})" if llm else "offline"
    analyst += f"; agents: {agents.describe()}"
    outcomes: list[Outcome] = []
    try:
        for configuration in _configurations(args, console):
            outcome = await run(configuration, corpus, splits, llm, agents)
            outcomes.append(outcome)
            if args.verbose:
                for name, split in outcome.splits.items():
                    console.rule(f"{configuration.name}: {name}")
                    print_questions(console, split)
            print_outcome(console, outcome, analyst)
    finally:
        if llm is not None:
            await llm.aclose()
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals", description=__doc__)
    parser.add_argument("--questions", type=int, default=0, help="evaluate only the first N questions of each split")
    parser.add_argument("--split", action="append", choices=list(SPLITS), help="only this split (repeatable)")
    parser.add_argument("--offline", action="store_true", help="ignore QUARRY_LLM_BASE_URL: the rules plan and write")
    parser.add_argument("--embeddings-url", default=os.environ.get("QUARRY_EMBEDDINGS_URL"))
    parser.add_argument("--embeddings-model", default=os.environ.get("QUARRY_EMBEDDINGS_MODEL"))
    parser.add_argument("--embeddings-api-key", default=os.environ.get("QUARRY_EMBEDDINGS_API_KEY"))
    parser.add_argument("--fastembed-model", default=None, help="fastembed model name (default BAAI/bge-small-en-v1.5)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per question")
    parser.add_argument(
        "--agent", action="append", default=[], metavar="COMPONENT=FILE.json", help="run an agent configuration"
    )
    parser.add_argument("--metrics-out", default=None, help="write the test split's gate metrics here (JSON)")
    args = parser.parse_args(argv)
    args.split = args.split or list(SPLITS)
    console = Console() if sys.stdout.isatty() else Console(width=200)

    try:
        agents = agents_of(dict(parse_spec(spec) for spec in args.agent))
    except AgentSpecError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    try:
        outcomes = asyncio.run(_evaluate(args, console, agents))
    except AgentSpecError as exc:  # e.g. a configuration in llm mode evaluated --offline
        console.print(f"[red]{exc}[/red]")
        return 2
    test = outcomes[0].splits.get("test")
    if test is None:
        console.print("the test split was not evaluated: no targets checked")
        return 0
    metrics = gate_metrics(test.summary)
    console.print(f"eval gate metrics (test split, {outcomes[0].configuration.name}): {json.dumps(metrics)}")
    if args.metrics_out:
        with open(args.metrics_out, "w", encoding="utf-8") as out:
            json.dump({"split": "test", "metrics": metrics}, out, indent=2)
    misses = TEST_TARGETS.misses(test.summary)
    for miss in misses:
        console.print(f"[red]test split misses its target: {miss}[/red]")
    if misses:
        return 1
    console.print("the test split meets its targets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
