"""How each kind of task runs: which worker lane, which tool, how often, how long. Plain data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from contracts.agents import COMPONENT_OF_TASK

# How long a dispatched task may wait in its lane before a worker takes it. `timeout_s` bounds a
# task's run from when a worker starts it, and the worker enforces it (quarry_runtime.worker);
# a deadline counted from the dispatch would also count the queue, and under a burst (200 runs
# at once on two cores) every task behind the first few timed out in the queue, was dispatched
# again and again, and failed its run without a worker ever having been late. The orchestrator's
# own timer is the backstop for an answer that never comes (a lane with no worker for this long).
QUEUE_ALLOWANCE_S = 3600.0


@dataclass(frozen=True)
class TaskPolicy:
    role: str
    tool: str
    max_attempts: int
    timeout_s: float
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0

    def backoff(self, failed_attempt: int) -> timedelta:
        """Exponential backoff before the attempt after `failed_attempt`."""
        return timedelta(seconds=min(self.backoff_base_s * 2 ** (failed_attempt - 1), self.backoff_max_s))


def answer_deadline(timeout_s: float) -> timedelta:
    """How long after its dispatch the orchestrator gives up waiting for a task's answer: its
    time in the lane's queue, then its own time on a worker."""
    return timedelta(seconds=QUEUE_ALLOWANCE_S + timeout_s)


POLICIES: dict[str, TaskPolicy] = {
    "plan": TaskPolicy("analyst", "llm_generate", max_attempts=3, timeout_s=180),
    "search": TaskPolicy("retriever", "web_search", max_attempts=3, timeout_s=120),
    # One host's pages: the tool whose allow-list, time box, approval and rate limit govern egress.
    "fetch": TaskPolicy("retriever", "fetch_url", max_attempts=2, timeout_s=120),
    # One of the tenant's datasets (or all of them) searched for every sub-question.
    "read": TaskPolicy("retriever", "read_dataset", max_attempts=3, timeout_s=120),
    "collect": TaskPolicy("analyst", "llm_generate", max_attempts=2, timeout_s=60),
    "synthesise": TaskPolicy("analyst", "llm_generate", max_attempts=3, timeout_s=300),
    "verify": TaskPolicy("analyst", "llm_generate", max_attempts=2, timeout_s=120),
    "index": TaskPolicy("retriever", "index_memory", max_attempts=3, timeout_s=120),
    "report": TaskPolicy("reporter", "publish_report", max_attempts=3, timeout_s=120),
}

# Steps a run can do without: refused by policy or failed for good, such a task is dropped (its
# pages are not fetched, its dataset not read) and the run goes on with what the other steps found.
OPTIONAL = frozenset({"fetch", "read"})


def agent_for(kind: str, agent_versions: dict[str, str]) -> tuple[str, str] | None:
    """(component, version) a task of `kind` runs in a run that recorded `agent_versions` at
    admission, or None: its worker's built-in settings."""
    component = COMPONENT_OF_TASK.get(kind)
    version = agent_versions.get(component) if component else None
    return None if component is None or version is None else (component, version)


def shadow_of(kind: str, arms: Mapping[str, Mapping[str, Any]]) -> tuple[tuple[str, str], str] | None:
    """((component, candidate version), rollout id) of the shadow a task of `kind` gets in a run
    whose admission recorded `arms` (a shadowing rollout sampled it), or None."""
    component = COMPONENT_OF_TASK.get(kind)
    arm = arms.get(component) if component else None
    candidate = arm.get("shadow") if arm else None
    if component is None or arm is None or not candidate:
        return None
    return (component, str(candidate)), str(arm["rollout_id"])
