"""A finished run as a rollout's guards see it. Pure.

Which ends count: completed, failed, cancelled and expired runs; a rejected one does not. A
run is rejected before its work starts (no credits, a guardrail on the question) or when a human
refuses an approval: neither says anything about how the version ran, and the first kind never
reaches admission, where the run takes its arm.

- errored: failed by the platform's fault (a tenant's fault, like nothing found, is not the
  version's error rate, but it is not a completion either);
- duration: from the run's creation (its request) to its end;
- cost: the credits reserved at admission. Billing's settled amount is the true cost, but it
  comes after the run ends, on billing's events; the run's own figure is what the commit that
  ends the run can record. So the cost guard compares reservations: it catches a version that
  makes runs reserve more, not one that spends more of a reservation (a follow-up may feed
  billing's settlement in);
- citation support: the share of the draft's claims its passages support, from the synthesiser's
  own check (kept in the run's state after it ends; the verify step's output is not).
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from contracts.work import SynthesiseOutput
from services.orchestrator.rollouts.assignment import Arm, Basis
from services.orchestrator.rollouts.guards import RunOutcome
from services.orchestrator.runs.domain import Run

OBSERVED_ENDS = frozenset({"completed", "failed", "cancelled", "expired"})


def outcome_of_run(run: Run, arm: Arm, basis: Basis, at: datetime) -> RunOutcome:
    """The outcome of `run`, which ended at `at`, for the arm it took."""
    return RunOutcome(
        arm=arm,
        tenant_id=run.tenant_id,
        finished_at=at,
        completed=run.state == "completed",
        errored=run.state == "failed" and run.failure_fault == "platform",
        duration_s=max((at - run.created_on).total_seconds(), 0.0),
        cost=float(run.credits_reserved),
        citation_support=_support(run),
        basis=basis,
    )


def _support(run: Run) -> float | None:
    synthesis = next((t.output for t in run.tasks_of("synthesise") if t.output), None)
    if not synthesis:
        return None
    check = SynthesiseOutput.model_validate(synthesis).citation_check
    return None if check is None or check.checked == 0 else check.support_rate


def arms_of(run: Run) -> dict[str, tuple[Arm, Basis]]:
    """rollout id -> (arm, basis) of every rollout that assigned a component of `run`."""
    return {
        str(arm["rollout_id"]): (cast(Arm, arm["arm"]), cast(Basis, arm.get("basis", "bucket")))
        for arm in run.rollouts.values()
    }
