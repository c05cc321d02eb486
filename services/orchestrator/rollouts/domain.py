"""The Rollout aggregate: a candidate version's way from shadow to 100%, or back to 0%. Pure.

Its state is folded from its own events (Started, StageAdvanced, RolledBack, Held, Paused,
Resumed, Aborted, TenantsRerandomised), each with the numbers that drove it; a look at the
metrics (`decision.look`) becomes at most one of them. The guards' data are events too: each
finished run's outcome (RunObserved), the cost billing settled for a completed one
(CostSettled, once per run), and the shadow phase's observations (ShadowObserved). Two replicas looking at once race on the
aggregate's next version: the loser's save fails on the conflict, and it reloads to find the
decision taken. Times come in as arguments (the caller's clock), never from the system.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, cast

from eventsourcing.domain import Aggregate, event

from services.orchestrator.errors import OrchestratorError
from services.orchestrator.owned import id_from
from services.orchestrator.rollouts.assignment import Arm, Assigner, Assignment
from services.orchestrator.rollouts.decision import Decision, MetricsUnavailable, look
from services.orchestrator.rollouts.guards import RunOutcome
from services.orchestrator.rollouts.observations import Observations
from services.orchestrator.rollouts.records import audience_of, evidence_record, outcome_of, outcome_record, rules_of

LOOKING = frozenset({"shadowing", "running", "paused"})  # the states a look or an operator may change


class RolloutError(OrchestratorError):
    """A command the rollout's current state refuses."""


class Rollout(Aggregate):
    create_id = id_from("rollout_id")

    # Version 2 of the snapshotted state has the settled costs (`costs`, `costed`).
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A rollout from before settled costs had none recorded (its outcomes carried reservations)."""
        state.setdefault("costs", [])
        state.setdefault("costed", set())

    @classmethod
    def start(
        cls,
        rollout_id: str,
        spec: Mapping[str, Any],
        stable: str,
        at: datetime,
        *,
        passed_eval: bool,
        salt: str | None = None,
        tenant_id: str = "",
        user_id: str | None = None,
        note: str = "",
    ) -> Rollout:
        """A rollout of `spec` (contracts.rollouts.RolloutSpec in JSON form) against `stable`, once
        the candidate has passed the offline evaluation (contracts.agents.AgentVersionEvaluated)."""
        if not passed_eval:
            raise RolloutError("the candidate has not passed the offline evaluation (make eval's test split)")
        if spec["candidate"] == stable:
            raise RolloutError("the candidate is the stable version already")
        if spec["stages"][0] >= 100 and not spec.get("shadow"):
            raise RolloutError("a first stage of 100% leaves no stable version to compare with")
        return cls(
            rollout_id=rollout_id,
            spec=dict(spec),
            stable=stable,
            salt=salt or rollout_id,
            at=at,
            tenant_id=tenant_id,
            user_id=user_id,
            note=note,
        )

    @event("Started")
    def __init__(
        self,
        rollout_id: str,
        spec: dict[str, Any],
        stable: str,
        salt: str,
        at: datetime,
        tenant_id: str = "",
        user_id: str | None = None,
        note: str = "",
    ) -> None:
        self.rollout_id = rollout_id
        self.note = note  # why the operator started it
        # The operator who started it: the envelopes of the decisions a timer takes name them.
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.started_at = at
        self.spec = spec
        self.component: str = spec["component"]
        self.candidate: str = spec["candidate"]
        self.stable = stable
        self.salt = salt
        self.stages: list[int] = list(spec["stages"])
        shadowing = bool(spec.get("shadow"))
        self.stage_index = -1 if shadowing else 0  # -1: the shadow phase, before the first stage
        self.percent = 0 if shadowing else self.stages[0]
        self.status = "shadowing" if shadowing else "running"
        self.resume_to = self.status  # the state a resume returns to
        self.stage_started_at = at
        self.last_hold: str | None = None
        self.decisions: list[dict[str, Any]] = []  # every decision, in order: what, when, why
        # Every finished run that took part, in the order recorded (`observe`): the guards' data.
        self.outcomes: list[dict[str, Any]] = []
        self.observed: set[str] = set()  # their run ids: each run counts once
        # What billing settled for those of them that completed, in the order recorded (`settle_cost`).
        self.costs: list[dict[str, Any]] = []
        self.costed: set[str] = set()  # their run ids: each run's cost counts once
        # Every look is recorded (decision or not) and sets the next one: `looks` numbers the
        # durable timer that may make it, so a stale or repeated timer finds its number passed.
        self.looks = 1
        self.look_due = _after(at, spec)
        self.last_look: dict[str, Any] | None = None  # the evidence of the latest look
        self.last_look_at: datetime | None = None
        # Bumped by every change of who gets which version, so a cached assignment knows it is stale.
        self.assignment_epoch = 0
        # The shadow phase's data (rollouts.shadow): each shadow task beside its real twin, once.
        self.shadow_observations: list[dict[str, Any]] = []
        self.shadowed: set[str] = set()

    # -- assignment --------------------------------------------------------------------------

    def assigner(self) -> Assigner:
        """The rollout's assignment as it stands, to keep until the rollout changes."""
        settled: Arm | None = None
        if self.status not in LOOKING:  # over: everyone on the version that won, pins included
            settled = "candidate" if self.status == "completed" else "stable"
        shadow = self.spec.get("shadow") if self.shadowing else None
        rate = float(shadow["sample_rate"]) if shadow else None
        return Assigner(self.candidate, self.stable, self.salt, self.percent, audience_of(self.spec), settled, rate)

    def arm_of(self, tenant_id: str, tier: str) -> Assignment:
        """The arm a run of `tenant_id` takes now, and on what basis."""
        return self.assigner().assign(tenant_id, tier)

    def version_of(self, tenant_id: str, tier: str) -> str:
        return self.assigner().version(tenant_id, tier)

    # -- looks -------------------------------------------------------------------------------

    def observations(self) -> Observations:
        """An empty record of outcomes for `look`, with this rollout's guard settings, to keep
        current between looks (a look then costs only the runs since the last): extend it with
        `outcomes_since` and `costs_since`."""
        return Observations(rules_of(self.spec, shadowing=False).guards)

    def look(self, now: datetime, outcomes: Observations | Sequence[RunOutcome] | MetricsUnavailable) -> Decision:
        """Evaluate the guards on `outcomes` (every run since the start) and record the decision."""
        self._check_looking()
        rules = rules_of(self.spec, shadowing=self.stage_index < 0)
        decision = look(rules, self.percent, self.stage_started_at, now, outcomes)
        record = None if decision.evidence is None else evidence_record(decision.evidence)
        if decision.action == "roll_back" and record is not None:
            self._rolled_back(from_percent=self.percent, guards=list(decision.harmed), evidence=record, at=now)
        elif self.status == "paused":
            self._looked(evidence=record, at=now)
            return Decision("wait", evidence=decision.evidence)  # paused: only harm changes anything
        elif decision.action == "promote" and record is not None:
            to_percent = self.stages[self.stage_index + 1]
            self._advanced(from_percent=self.percent, to_percent=to_percent, evidence=record, at=now)
        elif decision.action == "hold" and decision.reason is not None and decision.reason != self.last_hold:
            self._held(reason=decision.reason, detail=decision.detail, evidence=record, at=now)
        else:  # waiting, or holding for the reason recorded last: a decision event per look would pile up
            self._looked(evidence=record, at=now)
        return decision

    @event("Looked")
    def _looked(self, evidence: dict[str, Any] | None, at: datetime) -> None:
        self._seen(evidence, at)

    def _seen(self, evidence: dict[str, Any] | None, at: datetime, again: bool = True) -> None:
        self.last_look, self.last_look_at = evidence, at
        if again:
            self.looks += 1
            self.look_due = _after(at, self.spec)

    @event("StageAdvanced")
    def _advanced(self, from_percent: int, to_percent: int, evidence: dict[str, Any], at: datetime) -> None:
        self.stage_index += 1
        self.percent = to_percent
        self.stage_started_at = at
        self.last_hold = None
        if to_percent == 100:
            self.status = "completed"
        elif self.status == "shadowing":
            self.status = "running"
        self.assignment_epoch += 1
        self._seen(evidence, at, again=to_percent < 100)
        self._decided("promoted", at, percent=to_percent, evidence=evidence)

    @event("RolledBack")
    def _rolled_back(self, from_percent: int, guards: list[str], evidence: dict[str, Any], at: datetime) -> None:
        self.status = "rolled_back"
        self.percent = 0
        self.assignment_epoch += 1
        self._seen(evidence, at, again=False)
        self._decided("rolled_back", at, percent=from_percent, guards=guards, evidence=evidence)

    @event("Held")
    def _held(self, reason: str, detail: str, evidence: dict[str, Any] | None, at: datetime) -> None:
        self.last_hold = reason
        self._seen(evidence, at)
        self._decided("held", at, reason=reason, detail=detail, evidence=evidence)

    # -- outcomes ----------------------------------------------------------------------------

    def observe(self, run_id: str, outcome: RunOutcome) -> bool:
        """Record a finished run of the rollout (once per run: a second call changes nothing);
        whether it was recorded. Outcomes are kept in the order recorded: a run that another
        replica's clock finished a moment before the last one counts as finishing with it. Its
        cost is not kept with it: billing settles that later (`settle_cost`)."""
        if run_id in self.observed or self.status not in LOOKING:
            return False
        last = self.outcomes[-1]["finished_at"] if self.outcomes else None
        if last is not None and outcome.finished_at < datetime.fromisoformat(last):
            outcome = replace(outcome, finished_at=datetime.fromisoformat(last))
        self._run_observed(run_id=run_id, outcome=outcome_record(outcome))
        return True

    @event("RunObserved")
    def _run_observed(self, run_id: str, outcome: dict[str, Any]) -> None:
        self.observed.add(run_id)
        self.outcomes.append(outcome)

    def settle_cost(self, run_id: str, arm: Arm, cost: float, at: datetime) -> bool:
        """Record what an observed run of `arm` cost (billing's settled credits), once per run;
        whether it was recorded. The caller decides which runs' costs count (rollouts.outcomes)."""
        if run_id in self.costed or run_id not in self.observed or self.status not in LOOKING:
            return False
        self._cost_settled(run_id=run_id, arm=arm, cost=float(cost), at=at)
        return True

    @event("CostSettled")
    def _cost_settled(self, run_id: str, arm: str, cost: float, at: datetime) -> None:
        self.costed.add(run_id)
        self.costs.append({"run_id": run_id, "arm": arm, "cost": cost, "at": at.isoformat()})

    def costs_since(self, start: int) -> list[tuple[Arm, float]]:
        """The recorded costs from the `start`-th on, as (arm, credits)."""
        return [(cast(Arm, record["arm"]), float(record["cost"])) for record in self.costs[start:]]

    @property
    def shadowing(self) -> bool:
        """In the shadow phase (paused or not): sampled runs' tasks are copied to the candidate."""
        return self.stage_index < 0 and self.status in LOOKING

    def observe_shadow(self, shadow_task_id: str, record: dict[str, Any]) -> bool:
        """Record a shadow task beside its real twin (rollouts.shadow.observation), once; whether
        it was recorded (not once the shadow phase is over)."""
        if shadow_task_id in self.shadowed or not self.shadowing:
            return False
        self._shadow_observed(task_id=shadow_task_id, record=record)
        return True

    @event("ShadowObserved")
    def _shadow_observed(self, task_id: str, record: dict[str, Any]) -> None:
        self.shadowed.add(task_id)
        self.shadow_observations.append(record)

    def outcomes_since(self, start: int) -> list[RunOutcome]:
        """The recorded outcomes from the `start`-th on, as the guards read them."""
        return [outcome_of(record) for record in self.outcomes[start:]]

    # -- operators ---------------------------------------------------------------------------

    def pause(self, note: str, at: datetime, tenant_id: str = "", user_id: str | None = None) -> None:
        self._check_looking()
        if self.status == "paused":
            raise RolloutError(f"rollout {self.rollout_id} is paused already")
        self._paused(note=note, at=at, tenant_id=tenant_id, user_id=user_id)

    @event("Paused")
    def _paused(self, note: str, at: datetime, tenant_id: str = "", user_id: str | None = None) -> None:
        self.resume_to = self.status
        self.status = "paused"
        self._decided("paused", at, note=note)

    def resume(self, note: str, at: datetime, tenant_id: str = "", user_id: str | None = None) -> None:
        if self.status != "paused":
            raise RolloutError(f"rollout {self.rollout_id} is {self.status}, not paused")
        self._resumed(note=note, at=at, tenant_id=tenant_id, user_id=user_id)

    @event("Resumed")
    def _resumed(self, note: str, at: datetime, tenant_id: str = "", user_id: str | None = None) -> None:
        self.status = self.resume_to
        self._decided("resumed", at, note=note)

    def abort(self, note: str, at: datetime, tenant_id: str = "", user_id: str | None = None) -> None:
        self._check_looking()
        self._aborted(from_percent=self.percent, note=note, at=at, tenant_id=tenant_id, user_id=user_id)

    @event("Aborted")
    def _aborted(
        self, from_percent: int, note: str, at: datetime, tenant_id: str = "", user_id: str | None = None
    ) -> None:
        self.status = "aborted"
        self.percent = 0
        self.assignment_epoch += 1
        self._decided("aborted", at, percent=from_percent, note=note)

    def rerandomise(self, salt: str, note: str, at: datetime, tenant_id: str = "", user_id: str | None = None) -> None:
        """Draw every tenant's bucket again; the stage starts over (new tenants, new evidence)."""
        self._check_looking()
        if salt == self.salt:
            raise RolloutError("re-randomising needs a salt other than the current one")
        self._rerandomised(previous_salt=self.salt, salt=salt, note=note, at=at, tenant_id=tenant_id, user_id=user_id)

    @event("TenantsRerandomised")
    def _rerandomised(
        self,
        previous_salt: str,
        salt: str,
        note: str,
        at: datetime,
        tenant_id: str = "",
        user_id: str | None = None,
    ) -> None:
        self.salt = salt
        self.stage_started_at = at
        self.assignment_epoch += 1
        self._decided("rerandomised", at, note=note)

    def _check_looking(self) -> None:
        if self.status not in LOOKING:
            raise RolloutError(f"rollout {self.rollout_id} is {self.status}")

    def _decided(self, kind: str, at: datetime, **details: Any) -> None:
        self.decisions.append({"kind": kind, "at": at.isoformat(), **details})


def _after(at: datetime, spec: Mapping[str, Any]) -> datetime:
    """When the look after one at `at` is due."""
    return at + timedelta(seconds=int(spec.get("look_every_s", 60)))
