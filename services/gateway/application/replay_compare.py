"""The differences between the live read models and the ones a replay rebuilt, one line each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.gateway.application.replay import Models, ReplayReport

VALUE_CHARS = 160


def compare(live: Models, rebuilt: Models, report: ReplayReport) -> list[str]:
    """Every difference, counting each model's rows on both sides into `report`."""
    live_runs, rebuilt_runs = live.store.run_rows(), rebuilt.store.run_rows()
    live_docs, rebuilt_docs = live.store.document_rows(), rebuilt.store.document_rows()
    live_monitors, rebuilt_monitors = live.monitors.rows(), rebuilt.monitors.rows()
    report.runs_live, report.runs_rebuilt = len(live_runs), len(rebuilt_runs)
    report.documents_live, report.documents_rebuilt = len(live_docs), len(rebuilt_docs)
    report.monitors_live, report.monitors_rebuilt = len(live_monitors), len(rebuilt_monitors)
    return [
        *_compare_rows("run", live_runs, rebuilt_runs),
        *_compare_logs(live.store.run_event_ids(), rebuilt.store.run_event_ids()),
        *_compare_rows("document", live_docs, rebuilt_docs),
        *_compare_rows("monitor", live_monitors, rebuilt_monitors),
    ]


def _compare_rows(kind: str, live: dict[str, dict[str, Any]], rebuilt: dict[str, dict[str, Any]]) -> Iterator[str]:
    for key in sorted(live.keys() - rebuilt.keys()):
        yield f"{kind} {key} (tenant {live[key]['tenant_id']}): only in the live read model"
    for key in sorted(rebuilt.keys() - live.keys()):
        yield f"{kind} {key} (tenant {rebuilt[key]['tenant_id']}): only in the rebuilt read model"
    for key in sorted(live.keys() & rebuilt.keys()):
        for path, a, b in _diff(live[key], rebuilt[key], ""):
            yield f"{kind} {key}: {path}: live={_short(a)} rebuilt={_short(b)}"


def _compare_logs(live: dict[str, set[str]], rebuilt: dict[str, set[str]]) -> Iterator[str]:
    # A run present on one side only is already reported with its row.
    for run_id in sorted(live.keys() & rebuilt.keys()):
        only_live, only_rebuilt = live[run_id] - rebuilt[run_id], rebuilt[run_id] - live[run_id]
        if only_live or only_rebuilt:
            yield (
                f"run {run_id}: events: only live {_short(sorted(only_live))}"
                f" only rebuilt {_short(sorted(only_rebuilt))}"
            )


def _diff(a: Any, b: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """(dotted key, live, rebuilt) of every leaf that differs; lists compare whole, as a value."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            yield from _diff(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
    elif a != b:
        yield path, a, b


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= VALUE_CHARS else f"{text[: VALUE_CHARS - 1]}…"
