"""python -m evals: retrieval recall, citation support, answer coverage and fabricated citations, per configuration.

Offline: the default configuration (BM25 only) needs nothing. A hybrid configuration runs for each
embedding model that is available: an OpenAI-compatible server named by QUARRY_EMBEDDINGS_URL and
QUARRY_EMBEDDINGS_MODEL (or the flags), and fastembed with its model already on disk. Exits 1 when
the default misses a target (recall@10 >= 0.8, citation support >= 0.95, no fabricated citation).
"""

from __future__ import annotations

import argparse
import os
import sys

from rich.console import Console
from rich.table import Table

from evals.questions import QUESTIONS_FILE, load_questions
from evals.runner import TARGET_CITATION_SUPPORT, TARGET_RECALL_AT_10, Configuration, Outcome, run
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


def _table(outcomes: list[Outcome]) -> Table:
    table = Table(title="Quarry evaluation (offline pipeline, shipped corpus)", title_justify="left")
    for head in ("configuration", "recall@5", "recall@10", "citation support", "coverage", "fabricated", "chunks"):
        table.add_column(head, justify="left" if head == "configuration" else "right")
    table.add_column("ingest / eval s", justify="right")
    for o in outcomes:
        s = o.summary
        table.add_row(
            o.configuration.name,
            f"{s.recall[5]:.3f}",
            f"{s.recall[10]:.3f}",
            f"{s.citation_support:.3f} ({s.claims} claims)",
            f"{s.coverage:.3f}",
            f"{s.fabricated_rate:.3f} (of {s.cited})",
            str(o.chunks),
            f"{o.ingest_s:.1f} / {o.eval_s:.1f}",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals", description=__doc__)
    parser.add_argument("--questions", type=int, default=0, help="evaluate only the first N questions (0: all)")
    parser.add_argument("--embeddings-url", default=os.environ.get("QUARRY_EMBEDDINGS_URL"))
    parser.add_argument("--embeddings-model", default=os.environ.get("QUARRY_EMBEDDINGS_MODEL"))
    parser.add_argument("--embeddings-api-key", default=os.environ.get("QUARRY_EMBEDDINGS_API_KEY"))
    parser.add_argument("--fastembed-model", default=None, help="fastembed model name (default BAAI/bge-small-en-v1.5)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per question")
    args = parser.parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=160)

    corpus = sample_corpus()
    questions = load_questions(QUESTIONS_FILE, corpus_ids={d.doc_id for d in corpus})
    if args.questions:
        questions = questions[: args.questions]
    kinds = sorted({q.kind for q in questions})
    console.print(f"{len(questions)} questions ({', '.join(kinds)}) over {len(corpus)} documents")
    outcomes: list[Outcome] = []
    for configuration in _configurations(args, console):
        outcome = run(configuration, corpus, questions)
        outcomes.append(outcome)
        if args.verbose:
            console.rule(configuration.name)
            for r in outcome.results:
                console.print(
                    f"{r.question.id:22} {r.question.kind:10} R@5 {r.recall[5]:.2f} R@10 {r.recall[10]:.2f} "
                    f"support {r.supported}/{r.claims} facts {len(r.facts_covered)}/{len(r.question.facts)}"
                    + (f" missing {r.missing}" if r.missing else "")
                    + (f" FABRICATED {r.fabricated}" if r.fabricated else ""),
                    highlight=False,
                )
        by_kind = ", ".join(f"{k} {v:.3f}" for k, v in outcome.summary.recall_by_kind.items())
        console.print(f"{configuration.name}: recall@10 by kind: {by_kind}")
    console.print(_table(outcomes))
    misses = outcomes[0].misses()
    targets = (
        f"recall@10 >= {TARGET_RECALL_AT_10}, citation support >= {TARGET_CITATION_SUPPORT}, no fabricated citation"
    )
    if misses:
        console.print(f"[red]default configuration misses its targets ({targets}): {'; '.join(misses)}[/red]")
        return 1
    console.print(f"default configuration meets its targets ({targets})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
