"""What of a run's events a tenant may see, and who of the tenant may see the draft. Pure: no I/O.

On the way in (`visible`), before an event is stored in a run's log: a tool request loses its
delegation token (a bearer credential for the run's user), task inputs and outputs lose
the raw material tools fetched (passages of pages and documents, a source's quoted passage),
and a run's admission loses the shadow a rollout sampled it for (the candidate version its
tasks were copied to: the platform's experiment, never shown to the tenant, like the shadow
tasks' own events, which no run log keeps); what the run view folds (counts, titles,
locations, the draft itself, each component's arm) stays. Operators read events from the
stream (/v1/ops), as they were published.

On the way out (`for_reader`, `view_for_reader`): until the report is published, the draft (the
synthesis and its citation check, and the sources the view lists from it) is shown only to
those who may approve it (`runs:approve`: owners, admins). Approval comes after the paid steps;
a member or viewer who could read the draft of a run then rejected would have the research
without the report.
"""

from __future__ import annotations

from typing import Any

from contracts.envelope import Event

APPROVE = "runs:approve"
# Task kinds whose output is the draft, or a reading of it.
DRAFT_KINDS = frozenset({"synthesise", "verify"})
WITHHELD = {"withheld": "the draft is shown to those who may approve it until the report is published"}
SCALAR_MAX_CHARS = 2000


def visible(event: Event) -> dict[str, Any]:
    """The event as the tenant's run log stores it: no delegation token, no raw tool output."""
    return stripped(event.model_dump(mode="json"))


def stripped(event: dict[str, Any]) -> dict[str, Any]:
    """`visible` on an event already stored as a dict (a log written before the stripping)."""
    kind, payload = event.get("type"), event.get("payload")
    if not isinstance(payload, dict):
        return event
    if kind == "tool.requested" and payload.get("delegation") is not None:
        return event | {"payload": payload | {"delegation": None}}
    if kind == "task.dispatched" and isinstance(payload.get("input"), dict):
        return event | {"payload": payload | {"input": _scalars(payload["input"])}}
    if kind == "task.succeeded" and isinstance(payload.get("output"), dict):
        return event | {"payload": payload | {"output": _output(str(payload.get("kind")), payload["output"])}}
    if kind == "run.admitted" and isinstance(payload.get("rollouts"), dict):
        return event | {"payload": payload | {"rollouts": _unshadowed(payload["rollouts"])}}
    return event


def _unshadowed(rollouts: dict[str, Any]) -> dict[str, Any]:
    """Each component's arm without the shadow a rollout sampled the run for."""
    return {
        c: {k: v for k, v in arm.items() if k != "shadow"} if isinstance(arm, dict) else arm
        for c, arm in rollouts.items()
    }


def _scalars(data: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in data.items()
        if isinstance(v, int | float | bool) or (isinstance(v, str) and len(v) <= SCALAR_MAX_CHARS)
    }


def _output(kind: str, output: dict[str, Any]) -> dict[str, Any]:
    if kind == "plan":
        return {"sub_questions": [str(q) for q in output.get("sub_questions", [])]}
    if kind == "search":
        return _scalars(output) | {"passages": _passage_meta(output.get("passages"))}
    if kind in ("read", "fetch"):  # a dataset read, a host's pages: passages per sub-question
        findings = [
            {"sub_question": str(f.get("sub_question", "")), "passages": _passage_meta(f.get("passages"))}
            for f in output.get("findings", [])
            if isinstance(f, dict)
        ]
        return _scalars(output) | {"findings": findings}
    if kind == "synthesise":
        draft = output.get("draft")
        kept = _scalars(output)
        if isinstance(draft, dict):
            sources = [
                {k: v for k, v in s.items() if k != "passage"} for s in draft.get("sources", []) if isinstance(s, dict)
            ]
            kept["draft"] = draft | {"sources": sources}
        if isinstance(output.get("citation_check"), dict):
            kept["citation_check"] = output["citation_check"]
        return kept
    if kind in ("verify", "report"):
        return output  # the draft's own claims, and the report's artifact references
    return _scalars(output)


def _passage_meta(passages: Any) -> list[dict[str, Any]]:
    """Where each passage is from, without its text."""
    if not isinstance(passages, list):
        return []
    return [{k: p.get(k) for k in ("source_id", "title", "location")} for p in passages if isinstance(p, dict)]


def may_see_draft(reader: Any, view: dict[str, Any] | None) -> bool:
    """Approvers always; anyone who may read the run once its report is published."""
    return bool(reader.can(APPROVE)) or bool(view and view.get("report"))


def for_reader(event: dict[str, Any], draft_visible: bool) -> dict[str, Any]:
    """A stored event (as a dict) as this reader may see it."""
    event = stripped(event)
    if draft_visible or event.get("type") != "task.succeeded":
        return event
    payload = event.get("payload") or {}
    if payload.get("kind") not in DRAFT_KINDS:
        return event
    return event | {"payload": payload | {"output": WITHHELD}}


def view_for_reader(view: dict[str, Any], draft_visible: bool) -> dict[str, Any]:
    """The run view as this reader may see it: the draft's sources withheld before publication."""
    if draft_visible:
        return view
    return view | {"sources": []}
