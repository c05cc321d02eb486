"""A run's states, the moves between them, and the records of its human gates. Plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.orchestrator.errors import OrchestratorError

TERMINAL = frozenset({"completed", "failed", "rejected", "cancelled", "expired"})

TRANSITIONS: dict[str, frozenset[str]] = {
    "requested": frozenset({"admitted", "rejected", "cancelled"}),
    "admitted": frozenset({"planning", "failed", "cancelled"}),
    "planning": frozenset({"running", "waiting_approval", "awaiting_plan_review", "failed", "cancelled"}),
    "awaiting_plan_review": frozenset({"planning", "expired", "cancelled"}),
    "running": frozenset({"waiting_approval", "indexing", "failed", "cancelled"}),
    "waiting_approval": frozenset({"planning", "running", "indexing", "reporting", "rejected", "expired", "cancelled"}),
    "indexing": frozenset({"waiting_approval", "reporting", "failed", "cancelled"}),
    "reporting": frozenset({"waiting_approval", "completed", "failed", "cancelled"}),
    **{state: frozenset() for state in TERMINAL},
}

# The state a run is in while a task of this kind is its current step.
STATE_OF_STEP = {
    "plan": "planning",
    "search": "running",
    "fetch": "running",
    "read": "running",
    "collect": "running",
    "synthesise": "running",
    "verify": "running",
    "index": "indexing",
    "report": "reporting",
}


# The step whose success makes an earlier step's output unneeded by anything still to come.
CONSUMES = {"collect": ("search", "fetch", "read"), "synthesise": ("collect",)}
# What an ended run still needs of its tasks' outputs (see Run._shed).
KEPT_AFTER_END = frozenset({"synthesise", "report"})
# A tool request policy holds back for a while (a rate limit) is asked again after the wait it
# names, this many times at most and for waits up to this long; past either it is a denial.
MAX_THROTTLES = 5
MAX_THROTTLE_WAIT_S = 3600.0
# The subject of the approval a run with `review_plan` waits for: its plan, edited or not.
PLAN_REVIEW = "plan"


# The fields a run's state has had since version 2 of its snapshots, as a version 1 run had them.
V1_DEFAULTS: dict[str, Any] = {
    "failure_fault": "platform",
    "review_plan": False,
    "sources": None,
    "datasets": None,
    "length": "standard",
    "target_words": None,
    "template": None,
    "search_tallies": {},
    "passages_kept": None,
    "guardrail_trips": [],
}


class RunError(OrchestratorError):
    """A command that the run's current state refuses."""


@dataclass
class Approval:
    approval_id: str
    subject: str  # "publish", "plan" (a plan review), or "task:<task id>" for a tool use policy wants approved
    reason: str
    deadline: datetime
    resume_state: str
    status: str = "pending"  # pending | approved | refused | expired
    decided_by: str | None = None
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    """A human's answer to an approval or plan review (`by` None: the clock's, at the deadline):
    who gave it, their comment, and the bus event that carried it. Its stored event holds all three."""

    by: str | None
    comment: str
    cause: str
