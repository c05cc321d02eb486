"""The event-store benchmark's tables and summary rows."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from bench.eventstore.stores import APPEND_MODES, TARGET_RATIO, Append, ReadModel, Replay
from bench.report import SummaryRow, ratio, verdict

# -- output ------------------------------------------------------------------------------------


def _rate(events: int, seconds: float) -> str:
    return f"{events / seconds:,.0f}" if seconds > 0 else "-"


def replay_table(rows: Sequence[Replay]) -> Table:
    table = Table(
        title=f"run state of {rows[0].runs if rows else 0} runs, events folded per second: plain eventsourcing repository.get per run "
        "(baseline), fold_log (notification log in pages), rebuild_runs before and after the orchestrator's "
        "snapshots, and repository.get with snapshots; read/decode/fold ms: fold_log's split",
        title_justify="left",
    )
    for head in (
        "backend",
        "events",
        "get",
        "fold_log",
        "rebuild",
        "rebuild+snap",
        "x",
        "get+snap",
        "x ",
        "read ms",
        "decode ms",
        "fold ms",
        "same",
    ):
        table.add_column(head, justify="left" if head == "backend" else "right")
    for r in rows:
        table.add_row(
            r.backend,
            f"{r.events:,}",
            _rate(r.events, r.get_s),
            f"{_rate(r.events, r.log_s)} ({ratio(r.get_s, r.log_s):.1f}x)",
            f"{_rate(r.events, r.bulk_s)} ({ratio(r.get_s, r.bulk_s):.1f}x)",
            _rate(r.events, r.snap_bulk_s),
            f"{ratio(r.get_s, r.snap_bulk_s):.1f}x",
            _rate(r.events, r.snap_get_s),
            f"{ratio(r.get_s, r.snap_get_s):.1f}x",
            f"{r.read_s * 1000:.0f}",
            f"{r.decode_s * 1000:.0f}",
            f"{r.fold_s * 1000:.0f}",
            "yes" if r.equal else "[red]NO[/red]",
        )
    return table


def append_table(rows: Sequence[Append]) -> Table:
    table = Table(
        title="append: one commit per domain event, per handled bus event, or per group of handled bus events "
        "(quarry_runtime.groupcommit)",
        title_justify="left",
    )
    for head in ("backend", "what one save commits", "events", "commits", "s", "ev/s", "vs baseline", "all stored"):
        table.add_column(head, justify="left" if head in ("backend", "what one save commits") else "right")
    baseline = {r.backend: r.seconds for r in rows if r.mode == APPEND_MODES[0][0]}
    for r in rows:
        table.add_row(
            r.backend,
            r.mode,
            f"{r.events:,}",
            f"{r.commits:,}",
            f"{r.seconds:.2f}",
            _rate(r.events, r.seconds),
            f"{ratio(baseline[r.backend], r.seconds):.1f}x",
            "yes" if r.stored else "[red]NO[/red]",
        )
    return table


def readmodel_table(rows: Sequence[ReadModel], total: int) -> Table:
    table = Table(title="gateway run read models rebuilt from gateway envelopes", title_justify="left")
    for head in ("backend", "path", "events", "runs", "s", "ev/s", f"s for {total:,} ev", "check"):
        table.add_column(head, justify="left" if head in ("backend", "path") else "right")
    for r in rows:
        if r.events == total:
            whole = f"{r.seconds:.1f}"
        elif r.path.startswith("record_run_event"):
            whole = f"~{r.seconds * total / r.events:.0f} (extrapolated)"
        else:
            whole = "-"
        table.add_row(
            r.backend,
            r.path,
            f"{r.events:,}",
            str(r.runs),
            f"{r.seconds:.2f}",
            _rate(r.events, r.seconds),
            whole,
            r.check,
        )
    return table


def summary_rows(
    replays: Sequence[Replay], appends: Sequence[Append], readmodels: Sequence[ReadModel], total: int
) -> list[SummaryRow]:
    target = f">= {TARGET_RATIO:.0f}x"
    rows: list[SummaryRow] = []
    for r in replays:
        for what, seconds, candidate in (
            ("rebuild_runs with snapshots vs get", r.snap_bulk_s, True),
            ("get with snapshots vs get", r.snap_get_s, False),
            ("rebuild_runs, no snapshots, vs get", r.bulk_s, False),
        ):
            x = ratio(r.get_s, seconds)
            rows.append(
                SummaryRow(
                    "event store",
                    f"replay {r.backend}: {what}",
                    f"{x:.1f}x ({_rate(r.events, seconds)} vs {_rate(r.events, r.get_s)} ev/s)",
                    target if candidate else "",
                    verdict(x >= TARGET_RATIO and r.equal) if candidate else "",
                )
            )
    for backend in dict.fromkeys(a.backend for a in appends):
        mine = [a for a in appends if a.backend == backend]
        base = mine[0]
        for a, (_, per_commit) in zip(mine[1:], APPEND_MODES[1:], strict=True):
            x = ratio(base.seconds, a.seconds)
            # Without grouping is the reference point; the orchestrator groups what its fetches bring.
            candidate = per_commit > 1
            rows.append(
                SummaryRow(
                    "event store",
                    f"append {backend}: {a.mode}",
                    f"{x:.1f}x baseline ({_rate(a.events, a.seconds)} vs {_rate(base.events, base.seconds)} ev/s)",
                    target if candidate else "",
                    verdict(x >= TARGET_RATIO and a.stored) if candidate else "",
                )
            )
    for m in readmodels:
        if m.path.startswith("bulk, same"):
            continue
        if m.events == total:
            value = f"{m.seconds:.1f}s ({_rate(m.events, m.seconds)} ev/s)"
        else:
            value = f"~{m.seconds * total / m.events:.0f}s extrap. ({_rate(m.events, m.seconds)} ev/s)"
        path = "record_run_event" if m.path.startswith("record_run_event") else "bulk rebuild"
        rows.append(SummaryRow("event store", f"read models from {total:,} ev, {m.backend}: {path}", value))
    return rows
