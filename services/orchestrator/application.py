"""The orchestrator's use cases: each takes one bus event, changes a Run, and saves it.

Saving appends the Run's new events and the notification log in one transaction; the
outbox relay publishes from there. A bus event already applied to the run is a no-op.
"""

from __future__ import annotations

from collections.abc import Callable

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from contracts.credits import CreditsDenied, CreditsReserved
from contracts.run import RunRequested
from contracts.task import TaskFailed, TaskSucceeded
from contracts.tool import ToolDecided
from quarry_runtime.errors import NotReady, Rejected
from quarry_runtime.outbox import OutboxApplication
from services.orchestrator.checks import output_problem
from services.orchestrator.domain import Run
from services.orchestrator.workflow import advance


class Orchestrator(OutboxApplication):
    """Runs as event-sourced aggregates, driven by bus events."""

    on_saved: Callable[[], None] = staticmethod(lambda: None)

    def get_run(self, run_id: str) -> Run:
        run: Run = self.repository.get(Run.create_id(run_id))
        return run

    def start_run(self, ev: RunRequested) -> None:
        """Open the Run when the request arrives; billing's answer admits or rejects it."""
        run = Run(
            run_id=ev.run_id or "",
            tenant_id=ev.tenant_id,
            user_id=ev.actor.user_id,
            roles=list(ev.actor.roles),
            question=ev.payload.question,
            depth=ev.payload.depth,
            max_sources=ev.payload.max_sources,
            cause=ev.event_id,
            traceparent=ev.trace.traceparent,
        )
        try:
            self._save(run)
        except IntegrityError:
            pass  # a redelivered request: the run already exists

    def admit_run(self, ev: CreditsReserved) -> None:
        """Credits are reserved: start planning."""
        run = self._run_for(ev.run_id)
        if run.has_seen(ev.event_id) or run.is_terminal:
            return
        run.admit(ev.payload.amount, ev.payload.plan, cause=ev.event_id)
        advance(run)
        self._save(run)

    def reject_run(self, ev: CreditsDenied) -> None:
        """No credits: the run ends rejected and nothing is charged."""
        run = self._run_for(ev.run_id)
        if run.has_seen(ev.event_id) or run.is_terminal:
            return
        run.reject(ev.payload.reason, cause=ev.event_id)
        self._save(run)

    def apply_decision(self, ev: ToolDecided) -> None:
        """Policy answered a tool request: dispatch the task, or end the step with the reason."""
        run = self._run_for(ev.run_id)
        if run.has_seen(ev.event_id) or run.is_terminal:
            return
        task = run.task(ev.payload.task_id)
        if task.status != "requested":
            return
        if ev.payload.decision == "allow":
            run.authorise_task(task.task_id, ev.payload.policy_ids, ev.payload.policy_version, cause=ev.event_id)
        else:
            reasons = ev.payload.reasons or [f"policy answered {ev.payload.decision}"]
            run.deny_task(task.task_id, reasons, ev.payload.policy_ids, cause=ev.event_id)
        advance(run)
        self._save(run)

    def finish_task(self, ev: TaskSucceeded | TaskFailed) -> None:
        """A worker finished: check the output, record it, and start what may follow."""
        run = self._run_for(ev.run_id)
        if run.has_seen(ev.event_id) or run.is_terminal:
            return
        task = run.task(ev.payload.task_id)
        if task.status in ("succeeded", "failed"):
            return  # a second worker's answer for a task already settled
        if isinstance(ev, TaskSucceeded):
            problem = output_problem(task.kind, ev.payload.output)
            if problem is None:
                run.record_success(task.task_id, ev.payload.output, ev.payload.usage_event_ids, cause=ev.event_id)
            else:
                run.record_failure(task.task_id, problem, ev.payload.usage_event_ids, cause=ev.event_id)
        else:
            run.record_failure(task.task_id, ev.payload.reason, ev.payload.usage_event_ids, cause=ev.event_id)
        advance(run)
        self._save(run)

    def _run_for(self, run_id: str | None) -> Run:
        if not run_id:
            raise Rejected("event carries no run id")
        try:
            return self.get_run(run_id)
        except AggregateNotFoundError:
            raise NotReady(f"run {run_id} is not known yet") from None

    def _save(self, run: Run) -> None:
        self.save(run)
        self.on_saved()
