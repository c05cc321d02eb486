"""The rollout use cases: start one, command it, read it, look at it on its timer, feed it the
outcomes of the runs it assigned, and extend admission's table with its split.

Everything a rollout decides on is stored in its own log: the outcomes (recorded in the very
commit that ends each run, so none is lost or counted twice), the runs' settled costs (from
billing's `credits.v1.settled`, which comes after the run's end: recorded once per run, the
consumer's redelivery or a second replica finding it recorded), every look (so its durable
timer is set from a stored event, and `last_look` is the same on every replica) and each
decision. What a replica keeps in memory is only a cache: each rollout's `Observations`,
extended with the outcomes and costs recorded since its last look, and built again from the
stored ones after a restart.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from eventsourcing.application import AggregateNotFoundError

from contracts.agents import Component
from contracts.credits import CreditsSettled
from contracts.ids import new_id
from contracts.rollouts import RolloutCommandRequest, StartRolloutRequest
from contracts.task import TaskFailed, TaskSucceeded
from contracts.timer import TimerFired
from quarry_runtime.errors import NotReady
from services.orchestrator.agents.application import AgentUseCases
from services.orchestrator.agents.assignments import AssignmentTable
from services.orchestrator.errors import OrchestratorError
from services.orchestrator.rollouts.assignment import Assigner
from services.orchestrator.rollouts.board import RolloutBoard, board_id
from services.orchestrator.rollouts.decision import MetricsUnavailable
from services.orchestrator.rollouts.domain import LOOKING, Rollout, RolloutError
from services.orchestrator.rollouts.guards import RunOutcome
from services.orchestrator.rollouts.observations import Observations
from services.orchestrator.rollouts.outcomes import OBSERVED_ENDS, arms_of, costs_counted, outcome_of_run
from services.orchestrator.rollouts.shadow import Side, observation, outcomes_of
from services.orchestrator.runs.checks import output_problem
from services.orchestrator.runs.domain import Run
from services.orchestrator.saga import SETTLED, TaskState

COMPONENTS: tuple[str, ...] = get_args(Component)


class RolloutRefused(OrchestratorError):
    """A start the control plane refuses as asked (422): no passing evaluation, no stable version."""


class RolloutConflict(OrchestratorError):
    """A start while another rollout of the component is under way (409)."""


@dataclass(frozen=True)
class _Folded:
    """How much of a rollout's stored outcomes and costs a cached `Observations` holds."""

    observations: Observations
    outcomes: int = 0
    last_outcome: dict[str, Any] | None = None
    costs: int = 0
    last_cost: dict[str, Any] | None = None

    @classmethod
    def at(cls, rollout: Rollout, observations: Observations) -> _Folded:
        held, costs = rollout.outcomes, rollout.costs
        return cls(observations, len(held), held[-1] if held else None, len(costs), costs[-1] if costs else None)

    def prefix_of(self, rollout: Rollout) -> bool:
        """Whether what was folded in is still the start of what the rollout holds."""
        return _prefix(rollout.outcomes, self.outcomes, self.last_outcome) and _prefix(
            rollout.costs, self.costs, self.last_cost
        )


def _prefix(held: list[dict[str, Any]], count: int, last: dict[str, Any] | None) -> bool:
    return count <= len(held) and (count == 0 or held[count - 1] == last)


class RolloutUseCases(AgentUseCases):
    """Use cases of rollouts, on the store, clock and group commit of the orchestrator."""

    # rollout id -> what this replica's cache folded in: `_Folded`.
    _seen: dict[str, _Folded] | None = None
    # rollout id -> the assignment epoch the cached admission table was built at.
    _table_epochs: dict[str, int] | None = None

    # -- operators ------------------------------------------------------------------------------

    def start_rollout(self, request: StartRolloutRequest) -> Rollout:
        """Start `request.spec` against the component's stable version (see the errors above)."""
        spec = request.spec
        component = self._component(spec.component)
        if component is None or not component.has(spec.candidate):
            raise RolloutRefused(f"{spec.component} has no version {spec.candidate}")
        if component.stable is None:
            raise RolloutRefused(f"{spec.component} has no stable version to compare the candidate with")
        if spec.candidate == component.stable:
            raise RolloutRefused(f"version {spec.candidate} is the stable version of {spec.component} already")
        evaluation = component.evaluations.get(spec.candidate)
        if evaluation is None:
            raise RolloutRefused(f"version {spec.candidate} has no stored offline evaluation (make eval) yet")
        if not evaluation.get("passed"):
            missed = "; ".join(evaluation.get("failures") or []) or "its metrics missed their targets"
            raise RolloutRefused(f"version {spec.candidate} failed the eval gate: {missed}")
        board = self._board(spec.component) or RolloutBoard.open(spec.component)
        current = self._rollout(board.latest) if board.latest else None
        if current is not None and current.status in LOOKING:
            raise RolloutConflict(f"rollout {current.rollout_id} of {spec.component} is {current.status}")
        try:
            rollout = Rollout.start(
                new_id(),
                spec.model_dump(mode="json"),
                component.stable,
                self.clock(),
                passed_eval=True,
                tenant_id=request.tenant_id,
                user_id=request.actor.user_id,
                note=request.note,
            )
        except RolloutError as exc:
            raise RolloutRefused(str(exc)) from exc
        board.begin(rollout.rollout_id)
        self._save_together(board, rollout)
        return rollout

    def command_rollout(self, request: RolloutCommandRequest) -> Rollout:
        """Pause, resume, abort or re-randomise (a new salt); LookupError when unknown,
        RolloutError when the rollout's state refuses."""
        rollout = self.get_rollout(request.rollout_id)
        now, tenant, user = self.clock(), request.tenant_id, request.actor.user_id
        if request.action == "pause":
            rollout.pause(request.note, now, tenant_id=tenant, user_id=user)
        elif request.action == "resume":
            rollout.resume(request.note, now, tenant_id=tenant, user_id=user)
        elif request.action == "abort":
            rollout.abort(request.note, now, tenant_id=tenant, user_id=user)
        else:
            rollout.rerandomise(new_id(), request.note, now, tenant_id=tenant, user_id=user)
        self._save(rollout)
        return rollout

    def get_rollout(self, rollout_id: str) -> Rollout:
        rollout = self._rollout(rollout_id)
        if rollout is None:
            raise LookupError(f"no rollout {rollout_id}")
        return rollout

    def list_rollouts(self, component: str | None = None) -> list[Rollout]:
        """Every rollout (of `component`), newest first."""
        found: list[Rollout] = []
        for name in COMPONENTS if component is None else (component,):
            board = self._board(name)
            for rollout_id in reversed(board.rollouts) if board is not None else ():
                rollout = self._rollout(rollout_id)
                if rollout is not None:
                    found.append(rollout)
        return sorted(found, key=lambda r: r.started_at, reverse=True)

    # -- the durable timer ----------------------------------------------------------------------

    def look_rollout(self, ev: TimerFired) -> None:
        """The rollout's look is due: decide on every outcome so far, record it (and so set the
        next look), and make a candidate that reached 100% the stable version in the same commit."""
        p = ev.payload
        rollout = self._rollout(p.rollout_id or "")
        if rollout is None or rollout.status not in LOOKING or p.attempt != rollout.looks:
            return  # over, or a timer this rollout's looks have passed (redelivered, set twice)
        outcomes: Observations | list[RunOutcome] | MetricsUnavailable
        try:
            # The shadow phase judges the shadow tasks beside their twins; a stage, the runs.
            outcomes = outcomes_of(rollout.shadow_observations) if rollout.shadowing else self._observations(rollout)
        except Exception as exc:  # noqa: BLE001 - whatever breaks reading them, the look holds
            self._forget_observations(rollout.rollout_id)
            outcomes = MetricsUnavailable(f"reading the runs' outcomes failed: {exc}"[:2000])
        now = self.clock()
        rollout.look(now, outcomes)
        changed: list[Any] = [rollout]
        if rollout.status == "completed":
            component = self._component(rollout.component)
            if component is None:
                raise RolloutError(f"{rollout.component} is not registered any more")
            component.make_stable(rollout.candidate, rollout_id=rollout.rollout_id, at=now, tenant_id=rollout.tenant_id)
            changed.append(component)
        self._save_together(*changed)

    def _observations(self, rollout: Rollout) -> Observations:
        """The rollout's outcomes and costs as the guards read them: the cached ones plus those
        recorded since, or all of them again when the cache is not a prefix of what is stored."""
        seen = self._seen if self._seen is not None else {}
        self._seen = seen
        cached = seen.get(rollout.rollout_id)
        if cached is None or not cached.prefix_of(rollout):
            cached = _Folded(rollout.observations())
        cached.observations.extend(rollout.outcomes_since(cached.outcomes))
        cached.observations.add_costs(rollout.costs_since(cached.costs))
        seen[rollout.rollout_id] = _Folded.at(rollout, cached.observations)
        return cached.observations

    def _forget_observations(self, rollout_id: str) -> None:
        if self._seen is not None:
            self._seen.pop(rollout_id, None)

    # -- outcomes -------------------------------------------------------------------------------

    def observe_run(self, run: Run) -> list[Any]:
        """The rollouts that record `run`, which has just ended (see rollouts.outcomes for which
        ends count); the caller saves them in the commit that ends the run."""
        if run.state not in OBSERVED_ENDS:
            return []
        changed: list[Any] = []
        now = self.clock()
        for rollout_id, (arm, basis) in arms_of(run).items():
            rollout = self._rollout(rollout_id)
            if rollout is not None and rollout.observe(run.run_id, outcome_of_run(run, arm, basis, now)):
                changed.append(rollout)
        return changed

    def record_run_cost(self, ev: CreditsSettled) -> None:
        """Billing settled a run: its charge is the run's cost on each rollout it took an arm of,
        when it counts (rollouts.outcomes). Recorded once per run; a follow-up question's credits
        are not a run's. A settlement that overtook the run's end waits for it (redelivered)."""
        if ev.payload.question_id is not None or not ev.run_id:
            return
        try:
            run: Run = self._load(Run.create_id(ev.run_id))
        except (AggregateNotFoundError, ValueError):
            return  # a run this orchestrator never had: no rollout assigned it
        if run.tenant_id != ev.tenant_id or not run.rollouts:
            return
        if not run.is_terminal:
            raise NotReady(f"run {run.run_id} was settled before its end was recorded here", delay_s=2.0)
        if not costs_counted(run):
            return
        now, changed = self.clock(), []
        for rollout_id, (arm, _) in arms_of(run).items():
            rollout = self._rollout(rollout_id)
            if rollout is not None and rollout.settle_cost(run.run_id, arm, float(ev.payload.amount), now):
                changed.append(rollout)
        if changed:
            self._save_together(*changed)

    def observe_shadow_task(self, ev: TaskSucceeded | TaskFailed) -> None:
        """A shadow task (rollouts.shadow) ended: record it on its rollout beside its real twin,
        once the twin has settled (redelivered until then). Nothing of it reaches the run."""
        p = ev.payload
        rollout = self._rollout(p.rollout_id or "")
        if rollout is None or not rollout.shadowing or p.task_id in rollout.shadowed:
            return  # the shadow phase is over (its late tasks count for nothing), or seen already
        try:
            run: Run = self._load(Run.create_id(ev.run_id or ""))
        except (AggregateNotFoundError, ValueError):
            return
        twin = run.tasks.get(p.shadow_of or "")
        if twin is None or twin.kind != p.kind:
            return  # not a copy of any task of this run
        if twin.status not in SETTLED:
            if run.is_terminal:
                return  # the run ended without its twin's answer: nothing to compare with
            raise NotReady(f"task {twin.task_id}, which {p.task_id} shadows, has not settled yet", delay_s=2.0)
        output = twin.output if twin.output is not None or twin.status != "succeeded" else self._output_of(run, twin)
        stable: Side = (twin.status == "succeeded", output, twin.fault, twin.reason)
        candidate: Side
        if isinstance(ev, TaskSucceeded):
            problem = output_problem(p.kind, ev.payload.output)
            candidate = (problem is None, ev.payload.output, "platform", problem or "")
        else:
            candidate = (False, None, ev.payload.fault, ev.payload.reason)
        now = self.clock()
        last = rollout.shadow_observations[-1]["finished_at"] if rollout.shadow_observations else None
        at = max(now, datetime.fromisoformat(last)) if last else now  # the looks read them in order
        if rollout.observe_shadow(p.task_id, observation(p.kind, run.tenant_id, at, stable, candidate)):
            self._save_together(rollout)

    def _output_of(self, run: Run, task: TaskState) -> dict[str, Any] | None:
        """A succeeded task's output from the run's log: the run's state sheds what its later
        steps no longer need (and, once it ends, nearly every output)."""
        for stored in self.repository.event_store.get(run.id):
            if type(stored).__name__ == "TaskSucceeded" and getattr(stored, "task_id", None) == task.task_id:
                return dict(getattr(stored, "output", None) or {})
        return None

    # -- admission ------------------------------------------------------------------------------

    def assignment_table(self) -> AssignmentTable:
        """The stable versions, and the split of every rollout under way."""
        table, epochs = super().assignment_table(), {}
        under_way: dict[str, tuple[str, Assigner]] = {}
        for name in COMPONENTS:
            board = self._board(name)
            rollout = self._rollout(board.latest) if board is not None and board.latest else None
            if rollout is not None and rollout.status in LOOKING:
                under_way[name] = (rollout.rollout_id, rollout.assigner())
                epochs[rollout.rollout_id] = rollout.assignment_epoch
        self._table_epochs = epochs
        return table.with_rollouts(under_way)

    def committed(self, aggregates: Sequence[Any]) -> None:
        if any(self._moves_assignment(a) for a in aggregates):
            self._assignments = None  # the next admission reads the new split
        super().committed(aggregates)

    def _moves_assignment(self, aggregate: Any) -> bool:
        if not isinstance(aggregate, Rollout):
            return False
        epoch = (self._table_epochs or {}).get(aggregate.rollout_id)
        if epoch is None:
            return aggregate.status in LOOKING  # a rollout the table does not have yet
        return epoch != aggregate.assignment_epoch

    # -- storage --------------------------------------------------------------------------------

    def _save_together(self, *aggregates: Any) -> None:
        """Save `aggregates` in one transaction: staged in the running unit of the group commit
        (which commits them together), else recorded at once."""
        if self.group is not None and self.group.active:
            for aggregate in aggregates:
                self.group.stage(aggregate)
            return
        try:
            self.save(*aggregates)
        except Exception:
            for aggregate in aggregates:
                self.forget_aggregate(aggregate.id)  # another replica saved first: replay before retrying
            raise
        self.committed(list(aggregates))

    def _rollout(self, rollout_id: str) -> Rollout | None:
        try:
            rollout: Rollout = self._load(Rollout.create_id(rollout_id))
        except (AggregateNotFoundError, ValueError):  # ValueError: not a rollout id at all
            return None
        return rollout

    def _board(self, component: str) -> RolloutBoard | None:
        try:
            board: RolloutBoard = self._load(uuid.UUID(board_id(component)))
        except AggregateNotFoundError:
            return None
        return board
