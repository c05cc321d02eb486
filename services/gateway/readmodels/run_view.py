"""The run view the UI reads, folded from the run's events. Pure: no I/O.

The view is a fold of the run's events in event-id order, so it does not depend on the order
in which the bus delivered them and can be rebuilt from the log at any time. An event that sorts
after everything folded so far (the common case) is applied to the stored view; one that
overtook others makes the caller refold.
"""

from __future__ import annotations

import copy
from typing import Any

TERMINAL = frozenset({"completed", "failed", "rejected", "cancelled", "expired"})
STATE_BY_TYPE = {
    "run.requested": "requested",
    "run.admitted": "admitted",
    "run.planned": "running",
    "run.waiting_approval": "waiting_approval",
    "run.awaiting_plan_review": "awaiting_plan_review",
    "run.plan_revised": "running",
    "run.completed": "completed",
    "run.failed": "failed",
    "run.rejected": "rejected",
    "run.cancelled": "cancelled",
    "run.expired": "expired",
}
STATE_OF_STEP = {"plan": "planning", "index": "indexing", "report": "reporting"}


def fold_run(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The view of one run from its envelopes (dicts), in event-id order."""
    view = empty_view()
    for ev in sorted(events, key=lambda e: e["event_id"]):
        _apply(view, ev)
    return view


def fold_next(view: dict[str, Any], ev: dict[str, Any]) -> dict[str, Any]:
    """The view with one more event applied: equal to refolding, provided `ev` sorts after every
    event already folded into `view` (the caller checks; an event that overtook others is refolded)."""
    folded = copy.deepcopy(view)
    _apply(folded, ev)
    return folded


def empty_view() -> dict[str, Any]:
    view: dict[str, Any] = {
        "state": "requested",
        "question": None,
        "depth": None,
        "max_sources": None,
        "sub_questions": [],
        "steps": [],
        "sources": [],
        "passages_found": 0,
        "cost": {"estimate": None, "reserved": 0, "settled": 0, "refunded": 0, "closed": False},
        "report": None,
        "approval": None,
        "plan_review": None,
        "guardrails": [],
        "cancel_requested": False,
        "monitor_id": None,
        "template": None,
        "agent_versions": {},
        "rollouts": {},
        "error": None,
        "created_at": None,
        "updated_at": None,
    }
    return view


def _apply(view: dict[str, Any], ev: dict[str, Any]) -> None:
    kind, payload = ev["type"], ev.get("payload") or {}
    view["updated_at"] = max(view["updated_at"] or "", str(ev["occurred_at"]))
    new_state = STATE_BY_TYPE.get(kind)
    if kind == "run.requested":
        view["question"] = payload.get("question")
        view["depth"] = payload.get("depth")
        view["max_sources"] = payload.get("max_sources")
        view["monitor_id"] = payload.get("monitor_id")
        if payload.get("template_id"):
            view["template"] = {
                "template_id": payload["template_id"],
                "version": payload.get("template_version"),
                "name": payload.get("template_name"),
                "tone": payload.get("tone", "neutral"),
                "outline": [s.get("heading") for s in payload.get("outline") or []],
            }
        view["created_at"] = str(ev["occurred_at"])
    elif kind == "run.admitted":
        # Fixed at admission: what produced the report, whatever rollouts do afterwards. Each
        # arm without its `shadow` (the candidate a shadowing rollout copied the run's tasks to):
        # the platform's experiment, not the tenant's (gateway.disclosure).
        view["agent_versions"] = dict(payload.get("agent_versions") or {})
        view["rollouts"] = {
            component: {k: arm.get(k) for k in ("rollout_id", "arm", "basis", "bucket")}
            for component, arm in (payload.get("rollouts") or {}).items()
        }
    elif kind == "run.planned":
        view["sub_questions"] = payload.get("sub_questions", [])
    elif kind == "run.step_changed":
        view["steps"].append({k: payload.get(k) for k in ("step", "status", "detail")} | {"at": ev["occurred_at"]})
        if payload.get("status") == "started" and view["state"] != "waiting_approval":
            new_state = STATE_OF_STEP.get(payload.get("step", ""), "running")
    elif kind == "run.waiting_approval":
        view["approval"] = {k: payload.get(k) for k in ("approval_id", "subject", "reason", "deadline")} | {
            "status": "pending"
        }
    elif kind == "run.awaiting_plan_review":
        view["sub_questions"] = payload.get("sub_questions", [])
        view["plan_review"] = {
            k: payload.get(k) for k in ("review_id", "sub_questions", "max_sub_questions", "deadline")
        } | {"status": "pending"}
    elif kind == "run.plan_revised":
        view["sub_questions"] = payload.get("sub_questions", [])
        view["plan_review"] = (view.get("plan_review") or {}) | {
            "status": "edited" if payload.get("edited") else "continued",
            "decided_by": payload.get("revised_by"),
            "comment": payload.get("comment"),
        }
    elif kind == "run.resumed":
        view["approval"] = (view["approval"] or {}) | {
            "status": payload.get("outcome", "approved"),
            "decided_by": payload.get("approved_by"),
            "comment": payload.get("comment"),
        }
        new_state = "running"
    elif kind == "guardrail.tripped":
        view["guardrails"].append({k: payload.get(k) for k in ("guardrail", "where", "action", "counts")})
    elif kind == "run.cancel_requested":
        view["cancel_requested"] = True
    elif kind in ("run.cancelled", "run.expired") or kind in ("run.failed", "run.rejected"):
        view["error"] = payload.get("reason")
    elif kind == "credits.reserved":
        view["cost"]["reserved"] = payload.get("amount", 0)
    elif kind == "credits.denied":
        view["error"] = payload.get("reason")
    elif kind == "credits.settled":
        view["cost"]["settled"] = payload.get("amount", 0)
    elif kind == "credits.refunded":
        view["cost"]["refunded"] = payload.get("amount", 0)
        view["cost"]["closed"] = True
    elif kind == "task.succeeded":
        _apply_task_output(view, payload)
    elif kind == "report.published":
        view["report"] = {
            "title": payload.get("title"),
            "markdown": payload.get("markdown"),
            "pdf": payload.get("pdf"),
            "docx": payload.get("docx"),
        }
    if new_state and view["state"] not in TERMINAL:
        view["state"] = new_state
    if kind == "run.rejected" and view["approval"] and view["approval"].get("status") == "pending":
        view["approval"]["status"] = "refused"
    # A review still pending when the run ends was cancelled (by the reviewer or a cancel) or ran out.
    review = view.get("plan_review")  # a view stored before plan reviews has no such key
    if kind in ("run.cancelled", "run.expired") and review and review.get("status") == "pending":
        review["status"] = "cancelled" if kind == "run.cancelled" else "expired"


def _apply_task_output(view: dict[str, Any], payload: dict[str, Any]) -> None:
    output = payload.get("output") or {}
    if payload.get("kind") == "search":
        view["passages_found"] += len(output.get("passages", []))
    elif payload.get("kind") in ("read", "fetch"):  # a dataset read, a host's pages: per sub-question
        view["passages_found"] += sum(len(f.get("passages", [])) for f in output.get("findings", []))
    elif payload.get("kind") == "synthesise":
        view["sources"] = [
            {k: s.get(k) for k in ("number", "source_id", "title", "location")}
            for s in output.get("draft", {}).get("sources", [])
        ]


def is_settled(view: dict[str, Any]) -> bool:
    """Nothing more will happen to this run: terminal, and billing closed its reservation."""
    if view["state"] not in TERMINAL:
        return False
    # A run refused for lack of credits never had a reservation to close.
    return bool(view["cost"]["closed"]) or (view["state"] == "rejected" and not view["cost"]["reserved"])
