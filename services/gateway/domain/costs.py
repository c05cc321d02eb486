"""Cost attribution: a run's time, tokens, tool calls and credits per step, folded from its log.
Pure: no I/O.

A step is one task the orchestrator dispatched (a plan, a search per sub-question, ...), with its
attempts as the inspector's task graph tells them. Its usage is the usage records its worker
reported, each counted once; an attempt's share is the records its own outcome names (a record
no outcome names yet counts for the step only). Its credits are what billing metered for those
records (billing's prices, asked of billing by the caller), and, once billing closed the run's
reservation, what of that was charged and what refunded:

- settled (`credits.settled`): the records the settlement names are charged; when billing capped
  the charge (usage past the reservation beyond the plan's floor) each step's share is scaled
  down so the steps add up to the amount settled; a metered record the settlement does not name
  is refunded;
- refunded in full (`credits.refunded` without a settlement, a failure of the platform's): every
  step's metered credits are refunded, none charged;
- open: nothing charged or refunded yet (null).

A follow-up question's credits are its own (its events name the question), not the run's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quarry_runtime.shares import apportion
from services.gateway.domain.inspector import task_graph

RUN_ENDS = frozenset({"run.completed", "run.failed", "run.rejected", "run.cancelled", "run.expired"})


def _count(value: Any) -> int:
    # Bounded by the contract on the way in (non-negative numbers); anything else counts as none.
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else 0


def _ms(start: str | None, end: str | None) -> int | None:
    if not start or not end:
        return None
    return max(0, round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() * 1000))


def usage_records(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each usage record of the log by its event id (a record logged twice counts once)."""
    records: dict[str, dict[str, Any]] = {}
    for ev in events:
        payload = ev.get("payload") or {}
        event_id = str(ev.get("event_id") or "")
        if ev.get("type") == "usage.recorded" and isinstance(payload.get("task_id"), str) and event_id:
            records.setdefault(event_id, payload)
    return records


def settlement(events: list[dict[str, Any]]) -> dict[str, Any]:
    """How billing closed the run's reservation, as its log tells: `open`, `settled` (with the
    amount charged, the usage it names, and the rest released) or `refunded` (in full)."""
    state: dict[str, Any] = {"state": "open", "reserved": None, "charged": None, "released": None, "usage": []}
    for ev in events:
        payload = ev.get("payload") or {}
        if payload.get("question_id"):  # a follow-up question's credits
            continue
        kind = ev.get("type")
        if kind == "credits.reserved":
            state["reserved"] = _count(payload.get("amount"))
        elif kind == "credits.settled":
            state |= {"state": "settled", "charged": _count(payload.get("amount"))}
            state["usage"] = [str(u) for u in payload.get("usage_event_ids") or []]
        elif kind == "credits.refunded":
            state["released"] = _count(payload.get("amount"))
    if state["state"] == "open" and state["released"] is not None:
        state |= {"state": "refunded", "charged": 0}
    return state


def _sum_usage(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    tokens_in = sum(_count(p.get("tokens_in")) for p in payloads)
    tokens_out = sum(_count(p.get("tokens_out")) for p in payloads)
    models: dict[str, dict[str, int]] = {}
    tools: dict[str, int] = {}
    for p in payloads:
        tool = str(p.get("tool") or "other")
        tools[tool] = tools.get(tool, 0) + 1
        model = p.get("model")
        if isinstance(model, str) and model:
            used = models.setdefault(model, {"tokens_in": 0, "tokens_out": 0})
            used["tokens_in"] += _count(p.get("tokens_in"))
            used["tokens_out"] += _count(p.get("tokens_out"))
    return {
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "by_model": [{"model": m} | t for m, t in models.items()],
        "tool_calls": dict(sorted(tools.items())),
        "search_calls": sum(_count(p.get("search_calls")) for p in payloads),
    }


def _metered(ids: list[str], metered: dict[str, int] | None) -> int | None:
    return None if metered is None else sum(metered.get(u, 0) for u in ids)


def _outcome_ids(events: list[dict[str, Any]]) -> dict[tuple[str, int], list[str]]:
    """The usage records each attempt's outcome names, by (task id, attempt)."""
    named: dict[tuple[str, int], list[str]] = {}
    for ev in events:
        payload = ev.get("payload") or {}
        if ev.get("type") in ("task.succeeded", "task.failed") and isinstance(payload.get("task_id"), str):
            key = (payload["task_id"], int(payload.get("attempt") or 1))
            mine = named.setdefault(key, [])
            mine += [str(u) for u in payload.get("usage_event_ids") or [] if str(u) not in mine]
    return named


def _sub_questions(events: list[dict[str, Any]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for ev in events:
        payload = ev.get("payload") or {}
        asked = (payload.get("input") or {}).get("sub_question") if isinstance(payload.get("input"), dict) else None
        if ev.get("type") == "task.dispatched" and isinstance(asked, str) and asked:
            found.setdefault(str(payload.get("task_id")), asked)
    return found


def _steps_of(events: list[dict[str, Any]], records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The task graph's tasks, then a row for each task whose usage is logged but not its dispatch."""
    steps = task_graph(events)
    known = {t["task_id"] for t in steps}
    for payload in records.values():
        if payload["task_id"] not in known:
            known.add(payload["task_id"])
            steps.append(
                {"task_id": payload["task_id"], "kind": payload.get("kind"), "role": None, "status": "unknown"}
                | {"attempts": [], "started_at": None, "ended_at": None, "duration_ms": None}
            )
    return steps


def _credits(ids: list[str], metered: dict[str, int] | None, charged: int | None) -> dict[str, Any]:
    amount = _metered(ids, metered)
    refunded = None if amount is None or charged is None else amount - charged
    unmetered = None if metered is None else sum(1 for u in ids if u not in metered)
    return {"metered": amount, "charged": charged, "refunded": refunded, "unmetered_records": unmetered}


def _charges(
    steps: dict[str, list[str]], metered: dict[str, int] | None, closed: dict[str, Any]
) -> dict[str, int | None]:
    """Each step's part of what billing charged the run (None while open or without billing's figures)."""
    if closed["state"] == "refunded":
        return dict.fromkeys(steps, 0)
    if closed["state"] != "settled" or metered is None:
        return dict.fromkeys(steps, None)
    charged_ids = set(closed["usage"])
    owed = {task: sum(metered.get(u, 0) for u in ids if u in charged_ids) for task, ids in steps.items()}
    return dict(apportion(owed, closed["charged"]))


def run_costs(events: list[dict[str, Any]], metered: dict[str, int] | None) -> dict[str, Any]:
    """The run's steps with their time, tokens, tool calls and credits, and the run's totals.
    `metered`: billing's credits per usage record id, or None when billing did not answer."""
    records = usage_records(events)
    named = _outcome_ids(events)
    asked = _sub_questions(events)
    closed = settlement(events)
    steps = _steps_of(events, records)
    ids_of: dict[str, list[str]] = {t["task_id"]: [] for t in steps}
    for event_id, payload in records.items():
        ids_of[payload["task_id"]].append(event_id)
    charges = _charges(ids_of, metered, closed)
    rows = []
    for task in steps:
        ids = ids_of[task["task_id"]]
        attempts = []
        for attempt in task["attempts"]:
            mine = [u for u in named.get((task["task_id"], attempt["attempt"]), []) if u in records]
            attempts.append(
                {k: attempt.get(k) for k in ("attempt", "outcome", "duration_ms", "reason")}
                | {k: v for k, v in _sum_usage([records[u] for u in mine]).items() if k in ("tokens_in", "tokens_out")}
                | {"credits": _metered(mine, metered)}
            )
        expected = {u for (task_id, _), us in named.items() if task_id == task["task_id"] for u in us}
        rows.append(
            {k: task.get(k) for k in ("task_id", "kind", "role", "status", "started_at", "ended_at")}
            | {"sub_question": asked.get(task["task_id"]), "wall_ms": task.get("duration_ms"), "attempts": attempts}
            | {"usage_records": len(ids), "missing_usage": len(expected - set(ids))}
            | _sum_usage([records[u] for u in ids])
            | {"credits": _credits(ids, metered, charges[task["task_id"]])}
        )
    return {"steps": rows, "totals": _totals(events, rows, closed, metered)}


def _total(rows: list[dict[str, Any]], key: str) -> int | None:
    values = [r["credits"][key] for r in rows]
    return None if any(v is None for v in values) else sum(values)


def _totals(
    events: list[dict[str, Any]], rows: list[dict[str, Any]], closed: dict[str, Any], metered: dict[str, int] | None
) -> dict[str, Any]:
    started = next((str(e["occurred_at"]) for e in events if e.get("type") == "run.requested"), None)
    ended = max((str(e["occurred_at"]) for e in events if e.get("type") in RUN_ENDS), default=None)
    tools: dict[str, int] = {}
    for row in rows:
        for tool, calls in row["tool_calls"].items():
            tools[tool] = tools.get(tool, 0) + calls
    models: dict[str, dict[str, int]] = {}
    for row in rows:
        for used in row["by_model"]:
            sums = models.setdefault(used["model"], {"tokens_in": 0, "tokens_out": 0})
            sums["tokens_in"] += used["tokens_in"]
            sums["tokens_out"] += used["tokens_out"]
    return {
        "started_at": started,
        "ended_at": ended,
        "wall_ms": _ms(started, ended),
        "steps": len(rows),
        "attempts": sum(len(r["attempts"]) for r in rows),
        "tokens_in": sum(r["tokens_in"] for r in rows),
        "tokens_out": sum(r["tokens_out"] for r in rows),
        "by_model": [{"model": m} | t for m, t in sorted(models.items())],
        "tool_calls": dict(sorted(tools.items())),
        "search_calls": sum(r["search_calls"] for r in rows),
        "usage_records": sum(r["usage_records"] for r in rows),
        "missing_usage": sum(r["missing_usage"] for r in rows),
        "credits": {
            "available": metered is not None,
            "settlement": closed["state"],
            "reserved": closed["reserved"],
            "metered": _total(rows, "metered"),
            "charged": _total(rows, "charged"),
            "refunded": _total(rows, "refunded"),
            "settled": closed["charged"],
            "released": closed["released"],
            "unmetered_records": _total(rows, "unmetered_records"),
        },
    }
