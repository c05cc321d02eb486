"""Shadow runs: which runs a shadowing rollout samples, and a shadow task beside its real twin. Pure.

While a rollout shadows, a sampled run's tasks of the rollout's component are also dispatched
with the candidate version, on the same input. The candidate's result never reaches the run: it
is recorded on the rollout as an observation, next to the real task's outcome (the stable arm),
with a comparison of the two outputs:

- planner (plan): overlap of the sub-questions;
- synthesiser (synthesise): overlap of the claims, and each draft's citation support;
- answerer (answer): overlap of the answers' words;
- ranker (search, fetch, read): overlap of the top passages.

Overlap is the Jaccard index of normalised items (1.0: the same set). The shadow phase's look
reads each observation as two outcomes, one per arm: error rate and completion rate (and
citation support where the task reports it). Cost and duration are not compared:

- cost: a shadow task's usage is the platform's, metered on no run, so billing settles nothing
  that the cost guard could read (its credits show in billing's platform metrics);
- duration: both tasks are dispatched in the same commit, but their ends are not known alike:
  the twin's when the orchestrator records it, the shadow's only by the worker's clock (its
  event is handled once its twin has settled, so the orchestrator's clock would count that
  wait); the twin may have retried where the shadow had one attempt; and the p95 guard's
  sequence bounds nothing before about 160 observations per version, so with a shadow phase's
  usual `min_runs` it could only read inconclusive, which never promotes. Latency is judged in
  the stages, on whole runs.

Sampling is a hash of the run id with the rollout id, so a run is sampled or not for good:
    sampled = int.from_bytes(sha256(f"{rollout_id}.{run_id}")[:8], "big") / 2**64 < sample_rate
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from contracts.agents import COMPONENT_OF_TASK
from contracts.ids import derived_id
from services.orchestrator.rollouts.guards import GuardName, RunOutcome

TOP_PASSAGES = 5
# What the shadow phase's look can judge from a shadow task and its twin (see the docstring).
SHADOW_GUARDS: tuple[GuardName, ...] = ("error_rate", "completion_rate")
WITH_SUPPORT: frozenset[str] = frozenset({"synthesise"})
# One arm's result: (succeeded, output, fault, reason).
Side = tuple[bool, Mapping[str, Any] | None, str | None, str]


def sampled(rollout_id: str, run_id: str, sample_rate: float) -> bool:
    """Whether the shadowing rollout copies the run's tasks (see the module docstring)."""
    digest = hashlib.sha256(f"{rollout_id}.{run_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < sample_rate


def shadow_guards(component: str) -> tuple[GuardName, ...]:
    kinds = {kind for kind, owner in COMPONENT_OF_TASK.items() if owner == component}
    return SHADOW_GUARDS + (("citation_support",) if kinds & WITH_SUPPORT else ())


def shadow_task_id(task_id: str) -> str:
    """The shadow task of a real task: one per real task, whichever attempt it is on (an id
    like any task's: workers derive their events' ids from it)."""
    return derived_id(task_id, "shadow")


def side(succeeded: bool, output: Mapping[str, Any] | None, fault: str | None, reason: str = "") -> dict[str, Any]:
    """One arm's result as an observation keeps it (its output is left out: only the comparison)."""
    return {
        "succeeded": succeeded,
        "fault": None if succeeded else (fault or "platform"),
        "reason": reason[:300],
        "citation_support": citation_support(output) if succeeded and output else None,
    }


def observation(
    kind: str,
    tenant_id: str,
    at: datetime,
    stable: Side,
    candidate: Side,
) -> dict[str, Any]:
    """A shadow task and its real twin as the rollout records them."""
    both = stable[0] and candidate[0] and stable[1] is not None and candidate[1] is not None
    return {
        "kind": kind,
        "tenant_id": tenant_id,
        "finished_at": at.isoformat(),
        "stable": side(*stable),
        "candidate": side(*candidate),
        "similarity": similarity(kind, stable[1] or {}, candidate[1] or {}) if both else None,
    }


def outcomes_of(records: Sequence[Mapping[str, Any]]) -> list[RunOutcome]:
    """The observations as the shadow phase's look reads them: two outcomes each, in order."""
    found: list[RunOutcome] = []
    for record in records:
        at = datetime.fromisoformat(record["finished_at"])
        for arm in ("stable", "candidate"):
            result = record[arm]
            found.append(
                RunOutcome(
                    arm=arm,
                    tenant_id=record["tenant_id"],
                    finished_at=at,
                    completed=bool(result["succeeded"]),
                    errored=not result["succeeded"] and result.get("fault") == "platform",
                    duration_s=0.0,
                    citation_support=result.get("citation_support"),
                )
            )
    return found


def summary(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """contracts.rollouts.ShadowSummary's fields from the observations."""
    similar = [float(r["similarity"]) for r in records if r.get("similarity") is not None]
    return {
        "observations": len(records),
        "candidate_failures": sum(1 for r in records if not r["candidate"]["succeeded"]),
        "stable_failures": sum(1 for r in records if not r["stable"]["succeeded"]),
        "mean_similarity": _mean(similar),
        "candidate_citation_support": _mean(_supports(records, "candidate")),
        "stable_citation_support": _mean(_supports(records, "stable")),
    }


def similarity(kind: str, stable: Mapping[str, Any], candidate: Mapping[str, Any]) -> float:
    """How alike two outputs of a task of `kind` are, in [0, 1] (see the module docstring)."""
    return _jaccard(_items(kind, stable), _items(kind, candidate))


def citation_support(output: Mapping[str, Any]) -> float | None:
    check = output.get("citation_check") if isinstance(output, Mapping) else None
    if not isinstance(check, Mapping) or not check.get("checked"):
        return None
    return float(check.get("supported", 0)) / float(check["checked"])


def _items(kind: str, output: Mapping[str, Any]) -> set[str]:
    if kind == "plan":
        return {_norm(q) for q in output.get("sub_questions", [])}
    if kind == "synthesise":
        draft = output.get("draft") or {}
        claims = [*draft.get("summary", []), *(c for s in draft.get("sections", []) for c in s.get("claims", []))]
        return {_norm(c.get("text", "")) for c in claims}
    if kind == "answer":
        return set(_norm(str(output.get("answer", ""))).split())
    findings = output.get("findings") if kind in ("fetch", "read") else [output]
    return {
        f"{p.get('source_id')}#{p.get('location')}"
        for finding in findings or []
        for p in (finding.get("passages") or [])[:TOP_PASSAGES]
    }


def _jaccard(a: set[str], b: set[str]) -> float:
    return 1.0 if not a and not b else len(a & b) / len(a | b)


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def _supports(records: Iterable[Mapping[str, Any]], arm: str) -> list[float]:
    return [float(r[arm]["citation_support"]) for r in records if r[arm].get("citation_support") is not None]


def _mean(values: Sequence[float]) -> float | None:
    return None if not values else sum(values) / len(values)
