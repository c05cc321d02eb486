"""The run inspector's view of a run, folded from its event log. Pure: no I/O.

The task graph: each task the orchestrator dispatched, with its attempts (when each started and
ended, how, how long) and the policy decisions on the tools it asked for; and the memory the run
indexed: the findings of its final draft as the retriever files them (one entry for the summary
and one per section, each claim with its citation numbers), with the chunk count the index task
reported. What the log does not carry is said so, not guessed: a task's cost in credits is
billing's (usage records are not in the gateway's log), so `usage_records` counts them only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

SUMMARY_HEADING = "Summary"  # how the retriever titles a run's summary in memory


def _ms(start: str | None, end: str | None) -> int | None:
    if not start or not end:
        return None
    delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return max(0, round(delta.total_seconds() * 1000))


def task_graph(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The run's tasks in the order they were first dispatched (events in log order)."""
    tasks: dict[str, dict[str, Any]] = {}
    decisions: dict[str, dict[str, Any]] = {}  # request id -> the decision, as it fills in
    for ev in events:
        kind, payload, at = ev.get("type"), ev.get("payload") or {}, ev.get("occurred_at")
        task_id = payload.get("task_id")
        if not isinstance(task_id, str):
            continue
        task = tasks.get(task_id)
        if task is None and kind == "task.dispatched":
            task = tasks[task_id] = {
                "task_id": task_id,
                "kind": payload.get("kind"),
                "role": payload.get("role"),
                "status": "running",
                "attempts": [],
                "policy": [],
                "usage_records": 0,
                "started_at": at,
                "ended_at": None,
                "duration_ms": None,
            }
        if task is None:
            continue
        attempt_no = int(payload.get("attempt") or 1)
        if kind == "task.dispatched":
            task["attempts"].append(
                {"attempt": attempt_no, "started_at": at, "ended_at": None, "outcome": "running", "duration_ms": None}
            )
            task["status"] = "running"
        elif kind in ("task.succeeded", "task.failed"):
            attempt = next((a for a in reversed(task["attempts"]) if a["attempt"] == attempt_no), None)
            if attempt is None:  # an outcome whose dispatch is not in the log
                attempt = {"attempt": attempt_no, "started_at": None}
                task["attempts"].append(attempt)
            outcome = "succeeded" if kind == "task.succeeded" else "failed"
            attempt |= {"ended_at": at, "outcome": outcome, "duration_ms": _ms(attempt.get("started_at"), at)}
            if kind == "task.failed":
                attempt |= {"reason": payload.get("reason"), "retryable": bool(payload.get("retryable"))}
            task["usage_records"] += len(payload.get("usage_event_ids") or [])
            task["status"], task["ended_at"] = outcome, at
            task["duration_ms"] = _ms(task["started_at"], at)
        elif kind == "tool.requested":
            decision = decisions.setdefault(str(payload.get("request_id")), {"decision": None})
            decision |= {"request_id": payload.get("request_id"), "tool": payload.get("tool"), "requested_at": at}
            if decision not in task["policy"]:
                task["policy"].append(decision)
        elif kind == "tool.decided":
            decision = decisions.setdefault(str(payload.get("request_id")), {"request_id": payload.get("request_id")})
            decision |= {
                "tool": payload.get("tool"),
                "decision": payload.get("decision"),
                "reasons": list(payload.get("reasons") or []),
                "policy_ids": list(payload.get("policy_ids") or []),
                "policy_version": payload.get("policy_version"),
                "decided_at": at,
            }
            if decision not in task["policy"]:
                task["policy"].append(decision)
    for task in tasks.values():
        task["attempts"].sort(key=lambda a: a["attempt"])
    return list(tasks.values())


def memory(events: list[dict[str, Any]]) -> dict[str, Any]:
    """What the run put in its tenant's memory: nothing until its index task succeeded."""
    indexed = next(
        (
            ev
            for ev in events
            if ev.get("type") == "task.succeeded" and (ev.get("payload") or {}).get("kind") == "index"
        ),
        None,
    )
    if indexed is None:
        return {"indexed": False, "chunks": 0, "entries": []}
    chunks = ((indexed.get("payload") or {}).get("output") or {}).get("chunks", 0)
    # The draft the index task was given is the run's first synthesis (as the orchestrator picks it).
    draft = next(
        (
            (ev["payload"].get("output") or {}).get("draft")
            for ev in events
            if ev.get("type") == "task.succeeded"
            and (ev.get("payload") or {}).get("kind") == "synthesise"
            and (ev["payload"].get("output") or {}).get("draft")
        ),
        None,
    )
    entries: list[dict[str, Any]] = []
    if isinstance(draft, dict):
        parts = [(SUMMARY_HEADING, draft.get("summary") or [])]
        parts += [(s.get("heading", ""), s.get("claims") or []) for s in draft.get("sections") or []]
        for heading, claims in parts:
            if claims:
                entries.append(
                    {
                        "title": f"{draft.get('title', '')} — {heading}",
                        "facts": [{"text": c.get("text"), "citations": c.get("citations", [])} for c in claims],
                    }
                )
    return {"indexed": True, "chunks": chunks, "entries": entries}
