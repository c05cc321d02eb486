"""The evaluation's tables: one per configuration and split, a row per kind and one for the whole split."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from evals.runner import Outcome, SplitOutcome
from evals.summary import Summary

COLUMNS = (
    "kind",
    "questions",
    "recall@5",
    "recall@10",
    "key term in report",
    "key term in summary",
    "answer relevance",
    "citation support",
    "fabricated",
    "fact coverage",
)


def _row(label: str, s: Summary) -> list[str]:
    return [
        label,
        str(s.questions),
        f"{s.recall[5]:.3f}",
        f"{s.recall[10]:.3f}",
        f"{s.key_in_report:.3f}",
        f"{s.key_in_summary:.3f}",
        f"{s.relevance:.3f} ({s.delivered})",
        f"{s.citation_support:.3f} ({s.claims})",
        f"{s.fabricated} of {s.cited}",
        f"{s.coverage:.3f}",
    ]


def split_table(title: str, split: SplitOutcome) -> Table:
    table = Table(title=title, title_justify="left")
    for head in COLUMNS:
        table.add_column(head, justify="left" if head == "kind" else "right")
    for kind, s in split.kinds.items():
        table.add_row(*_row(kind, s))
    table.add_row(*_row("all", split.summary), style="bold")
    return table


def print_outcome(console: Console, outcome: Outcome, analyst: str) -> None:
    """Both splits of one configuration; counts in brackets are the denominators (claims, sources)."""
    for name, split in outcome.splits.items():
        title = (
            f"{name} split, {outcome.configuration.name}, {analyst} analyst "
            f"({outcome.chunks} chunks indexed in {outcome.ingest_s:.1f}s, evaluated in {split.eval_s:.1f}s)"
        )
        console.print(split_table(title, split))


def print_questions(console: Console, split: SplitOutcome) -> None:
    """One line per question: what it found, whether it stated its key term, what went wrong."""
    for r in split.results:
        console.print(
            f"{r.question.id:26} {r.question.kind:10} R@10 {r.recall[10]:.2f} "
            f"key {'R' if r.key_in_report else '-'}{'S' if r.key_in_summary else '-'} "
            f"relevant {r.relevant}/{r.report_claims} support {r.supported}/{r.claims} "
            f"facts {len(r.facts_covered)}/{len(r.question.facts)}"
            + (f" missing {r.missing}" if r.missing else "")
            + (f" FABRICATED {r.fabricated}" if r.fabricated else ""),
            highlight=False,
        )
