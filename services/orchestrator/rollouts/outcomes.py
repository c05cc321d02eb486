"""A finished run as a rollout's guards see it. Pure.

Which ends count: completed, failed, cancelled and expired runs; a rejected one does not. A
run is rejected before its work starts (no credits, a guardrail on the question) or when a human
refuses an approval: neither says anything about how the version ran, and the first kind never
reaches admission, where the run takes its arm.

- errored: failed by the platform's fault (a tenant's fault, like nothing found, is not the
  version's error rate, but it is not a completion either);
- duration: from the run's creation (its request) to its end;
- cost: not known when the run ends. Billing settles a run after its end, on billing's events
  (`credits.v1.settled`); the orchestrator records the settled credits on each rollout the run
  took an arm of (`RolloutUseCases.record_run_cost`, once per run and rollout), and the cost
  guard reads only the runs whose cost is recorded. It is the cost of a completed run: a run
  that failed (the error guard's), was cancelled, expired or refused at approval says how far it
  got, not what an answer costs, so its settlement (or refund) is not a cost sample. The settled
  amount is the run's metered usage (capped only where the tenant's balance runs out);
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
        citation_support=_support(run),
        basis=basis,
    )


def costs_counted(run: Run) -> bool:
    """Whether what billing settled for `run` is a cost sample of its arm (see the docstring)."""
    return run.state == "completed"


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
