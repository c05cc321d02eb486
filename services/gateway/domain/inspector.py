"""The run inspector's view of a run, folded from its event log. Pure: no I/O.

The task graph: each task the orchestrator dispatched, with its attempts (when each started and
ended, how, how long) and the policy decisions on the tools it asked for; and the memory the run
indexed: the findings of its final draft as the retriever files them (one entry for the summary
and one per section, each claim with its citation numbers), with the chunk count the index task
reported.

A task's usage is the sum of the usage records its worker reported (tokens in and out, search
calls, seconds, the models that produced the tokens), overall and per tool. Its cost in credits
is what billing metered for those records, asked of billing (its price list is its own, so the
gateway adds billing's figures instead of guessing at its formula).
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


def _quantity(value: Any) -> float:
    # Bounded by the contract on the way in (non-negative numbers); anything else counts as none.
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else 0.0


def _usage_sums() -> dict[str, Any]:
    return {"tokens_in": 0, "tokens_out": 0, "search_calls": 0, "seconds": 0.0}


def _add_usage(sums: dict[str, Any], payload: dict[str, Any]) -> None:
    for key in ("tokens_in", "tokens_out", "search_calls"):
        sums[key] += int(_quantity(payload.get(key)))
    sums["seconds"] = round(sums["seconds"] + _quantity(payload.get("seconds")), 3)


def usage_of(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per task id: its usage records summed, overall and per tool, each record counted once."""
    usage: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for ev in events:
        payload = ev.get("payload") or {}
        task_id = payload.get("task_id")
        if ev.get("type") != "usage.recorded" or not isinstance(task_id, str):
            continue
        event_id = str(ev.get("event_id") or "")
        if event_id and event_id in seen:
            continue
        seen.add(event_id)
        task = usage.setdefault(task_id, {"records": 0, **_usage_sums(), "models": [], "by_tool": {}})
        task["records"] += 1
        _add_usage(task, payload)
        tool = str(payload.get("tool") or "")
        _add_usage(task["by_tool"].setdefault(tool, _usage_sums()), payload)
        model = payload.get("model")
        if isinstance(model, str) and model and model not in task["models"]:
            task["models"].append(model)
    return usage


def usage_ids_of(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per task id: the event ids of its usage records, each once (billing meters by them)."""
    ids: dict[str, list[str]] = {}
    seen: set[str] = set()
    for ev in events:
        task_id = (ev.get("payload") or {}).get("task_id")
        event_id = str(ev.get("event_id") or "")
        if ev.get("type") != "usage.recorded" or not isinstance(task_id, str) or not event_id or event_id in seen:
            continue
        seen.add(event_id)
        ids.setdefault(task_id, []).append(event_id)
    return ids


def add_credits(
    tasks: list[dict[str, Any]], events: list[dict[str, Any]], metered: dict[str, int] | None
) -> dict[str, Any]:
    """Set each task's `credits` to what billing metered for its usage records (None when billing
    did not tell) and return the run's: the total, and how many records billing has not metered
    yet (the gateway and billing read usage.> each at its own pace)."""
    if metered is None:
        for task in tasks:
            task["credits"] = None
        return {"available": False, "total": None, "unmetered_records": None}
    ids = usage_ids_of(events)
    total = unmetered = 0
    for task in tasks:
        mine = ids.get(task["task_id"], [])
        task["credits"] = sum(metered.get(u, 0) for u in mine)
        total += task["credits"]
        unmetered += sum(1 for u in mine if u not in metered)
    return {"available": True, "total": total, "unmetered_records": unmetered}


OUTCOMES = ("task.succeeded", "task.failed")


def _attempt_of(ev: dict[str, Any]) -> tuple[Any, Any]:
    payload = ev.get("payload") or {}
    return payload.get("task_id"), payload.get("attempt") or 1


def _dispatches_first(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The log, each attempt's dispatch moved just before its outcome where it was logged after it:
    the log keeps the order the gateway applied events in, and a worker's outcome can be applied
    before the orchestrator's dispatch that caused it."""
    first_outcome: dict[tuple[Any, Any], int] = {}
    for i, ev in enumerate(events):
        if ev.get("type") in OUTCOMES:
            first_outcome.setdefault(_attempt_of(ev), i)

    def place(item: tuple[int, dict[str, Any]]) -> float:
        i, ev = item
        if ev.get("type") == "task.dispatched":
            return min(i, first_outcome.get(_attempt_of(ev), i) - 0.5)
        return i

    return [ev for _, ev in sorted(enumerate(events), key=place)]


def task_graph(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The run's tasks in the order they were first dispatched (events in log order)."""
    tasks: dict[str, dict[str, Any]] = {}
    decisions: dict[str, dict[str, Any]] = {}  # request id -> the decision, as it fills in
    usage = usage_of(events)
    for ev in _dispatches_first(events):
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
        elif kind in OUTCOMES:
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
        task["usage"] = usage.get(task["task_id"]) or {"records": 0, **_usage_sums(), "models": [], "by_tool": {}}
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
