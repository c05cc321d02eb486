"""The run use cases: each takes one bus event, changes a Run, and saves it.

Saving appends the Run's new events and the notification log in one transaction; the
outbox relay publishes from there. A bus event already applied to the run is a no-op, and a
stale one (a late answer for a task already settled, a timer for an old attempt) is ignored.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from contracts.approval import ApprovalGiven, ApprovalRejected
from contracts.credits import CreditsDenied, CreditsReserved
from contracts.envelope import Event
from contracts.run import RunCancelRequested, RunPlanReviewed, RunRequested
from contracts.task import TaskFailed, TaskSucceeded
from contracts.timer import TimerFired
from contracts.tool import ToolDecided
from contracts.work import Draft
from quarry_runtime.errors import NotReady, Rejected
from quarry_runtime.eventsourced import EventSourcedApplication
from quarry_security.guardrails import injection_findings
from services.orchestrator.agents.assignments import Assigned
from services.orchestrator.asker import asked_by
from services.orchestrator.runs.checks import output_problem
from services.orchestrator.runs.domain import MAX_THROTTLE_WAIT_S, MAX_THROTTLES, Answer, Run
from services.orchestrator.runs.workflow import TEMPLATE_FIELDS, advance, final_draft
from services.orchestrator.saga import SETTLED
from services.orchestrator.tasks import answer_deadline

# The JetStream scheduler fires on whole seconds; a timer may arrive a hair before its due time.
TIMER_TOLERANCE = timedelta(seconds=2)


class RunUseCases(EventSourcedApplication):
    """Use cases of runs; the application they are part of also has the monitors' `fire_monitor`."""

    if TYPE_CHECKING:
        fire_monitor: Callable[[TimerFired], None]
        look_rollout: Callable[[TimerFired], None]

        def assign_agents(self, tenant_id: str, tier: str, run_id: str = "") -> Assigned: ...

        observe_run: Callable[[Run], list[Any]]
        observe_shadow_task: Callable[[TaskSucceeded | TaskFailed], None]
        _save_together: Callable[..., None]

    def get_run(self, run_id: str) -> Run:
        run: Run = self._load(Run.create_id(run_id))
        return run

    def has_run(self, run_id: str) -> bool:
        try:
            self.get_run(run_id)
        except AggregateNotFoundError:
            return False
        return True

    def start_run(self, ev: RunRequested) -> None:
        """Open the Run when the request arrives; billing's answer admits or rejects it."""
        p = ev.payload
        run = Run(
            run_id=ev.run_id or "",
            **asked_by(ev),
            question=p.question,
            depth=p.depth,
            max_sources=p.max_sources,
            cause=ev.event_id,
            traceparent=ev.trace.traceparent,
            approval_required=p.approval_required,
            approval_timeout_s=p.approval_timeout_s,
            monitor_id=p.monitor_id,
            previous_run_id=p.previous_run_id,
            pii_policy=p.pii_policy,
            sources=list(p.sources) if p.sources else None,
            datasets=list(p.datasets) if p.datasets else None,
            length=p.length,
            target_words=p.target_words,
            template=p.model_dump(mode="json", include=set(TEMPLATE_FIELDS)) if p.template_id else None,
            review_plan=p.review_plan,
        )
        if self.has_run(run.run_id):
            return  # a redelivered request
        with contextlib.suppress(IntegrityError):  # another replica opened it a moment ago
            self._save_run(run)

    def admit_run(self, ev: CreditsReserved) -> None:
        """Credits are reserved: screen the question, then start planning.

        The screening waits for the reservation so that a rejected run is always one billing
        holds credits for, and refunds: rejecting earlier could race the reservation.
        """
        run = self._run_for(ev)
        if run is None:
            return
        injections = Counter(f.kind for f in injection_findings(run.question))
        if injections:
            run.trip_guardrail("prompt_injection", "question", "rejected", dict(injections))
            kinds = ", ".join(sorted(injections))
            run.reject(
                f"guardrail prompt_injection: the question reads as instructions to the model ({kinds})", ev.event_id
            )
            self._save_run(run)
            return
        assigned = self.assign_agents(run.tenant_id, ev.payload.plan, run.run_id)
        run.admit(
            ev.payload.amount,
            ev.payload.plan,
            cause=ev.event_id,
            agents=assigned.versions,
            arms=assigned.rollouts,
        )
        self._advance_and_save(run)

    def reject_run(self, ev: CreditsDenied) -> None:
        """No credits: the run ends rejected and nothing is charged."""
        self._change_run(ev, lambda run: run.reject(ev.payload.reason, cause=ev.event_id), advance=False)

    def apply_decision(self, ev: ToolDecided) -> None:
        """Policy answered a tool request: dispatch, park for approval, or end the step."""
        run = self._run_for(ev)
        if run is None or (task := run.requested_task(ev.payload.task_id)) is None:
            return
        decision = ev.payload.decision
        if decision == "allow":
            run.authorise_task(
                task.task_id, ev.payload.policy_ids, ev.payload.policy_version, ev.event_id, self.clock()
            )
        elif decision == "require_approval":
            reason = f"policy wants a human to approve {task.tool} for the {task.kind} step: " + "; ".join(
                ev.payload.reasons
            )
            subject = f"task:{task.task_id}"
            if run.pending_approval() is not None:  # several hosts' fetches may each want one
                run.queue_approval(task.task_id, reason, ev.payload.approval_timeout_s, cause=ev.event_id)
            else:
                run.request_approval(
                    subject,
                    reason,
                    self.clock(),
                    cause=ev.event_id,
                    timeout_s=ev.payload.approval_timeout_s,
                )
        else:
            reasons = ev.payload.reasons or [f"policy answered {decision}"]
            wait = ev.payload.retry_after_s
            if wait is not None and wait <= MAX_THROTTLE_WAIT_S and task.throttles < MAX_THROTTLES:
                retry_at = self.clock() + timedelta(seconds=wait)
                run.throttle_task(task.task_id, reasons, retry_at, cause=ev.event_id)
            else:
                run.deny_task(task.task_id, reasons, ev.payload.policy_ids, cause=ev.event_id)
        self._advance_and_save(run)

    def finish_task(self, ev: TaskSucceeded | TaskFailed) -> None:
        """A worker finished an attempt: check the output, record it, start what may follow."""
        if ev.payload.shadow:  # a rollout's copy: its rollout records it, the run never sees it
            self.observe_shadow_task(ev)
            return
        run = self._run_for(ev)
        if run is None or (task := run.task(ev.payload.task_id)).status in SETTLED:
            return  # a late or second answer for a task already settled
        now = self.clock()
        if isinstance(ev, TaskSucceeded):
            problem = output_problem(task.kind, ev.payload.output)
            if problem is None:
                run.record_success(task.task_id, ev.payload.output, ev.payload.usage_event_ids, cause=ev.event_id)
            elif ev.payload.attempt == task.attempt:
                run.record_failure(
                    task.task_id, task.attempt, problem, True, ev.payload.usage_event_ids, ev.event_id, now
                )
            else:
                return
        elif task.is_running(ev.payload.attempt):
            p = ev.payload
            run.record_failure(
                task.task_id, p.attempt, p.reason, p.retryable, p.usage_event_ids, ev.event_id, now, fault=p.fault
            )
        else:
            return  # a failure of an attempt that was already timed out and retried
        self._advance_and_save(run)

    def fire_timer(self, ev: TimerFired) -> None:
        """A durable timer is due: time a task out, retry it, expire an approval, fire a monitor,
        look at a rollout."""
        if ev.payload.purpose == "monitor_slot":
            self.fire_monitor(ev)
            return
        if ev.payload.purpose == "rollout_look":
            self.look_rollout(ev)
            return
        run = self._run_for(ev)
        if run is None:
            return
        p, now = ev.payload, self.clock()
        if p.purpose == "tool_retry":
            task = run.tasks.get(p.task_id or "")
            if task is None or task.status != "requested" or task.throttles != p.attempt:
                return  # answered since, or a timer of an earlier hold
            run.request_tool_again(task.task_id, cause=ev.event_id)
        elif p.purpose in ("task_timeout", "task_retry"):
            task = run.tasks.get(p.task_id or "")
            if task is None or task.attempt != p.attempt:
                return
            if p.purpose == "task_timeout" and task.status == "dispatched":
                reason = f"no answer within {answer_deadline(task.timeout_s).total_seconds():.0f}s of its dispatch"
                run.record_failure(task.task_id, task.attempt, reason, True, [], ev.event_id, now)
            elif p.purpose == "task_retry" and task.status == "retrying" and not run.cancel_reason:
                run.retry(task.task_id, now, cause=ev.event_id)
            else:
                return
        else:
            pending = run.pending_approval()
            if pending is None or pending.approval_id != p.approval_id:
                return
            if run.optional_task_of(pending) is not None:
                if now + TIMER_TOLERANCE < pending.deadline:
                    return
                run.drop_task(pending.approval_id, "expired", Answer(None, "", ev.event_id))
            else:
                run.expire(pending.approval_id, now + TIMER_TOLERANCE, cause=ev.event_id)
        self._advance_and_save(run)

    def cancel_run(self, ev: RunCancelRequested) -> None:
        """Stop at the next step boundary: nothing new starts; the run ends when nothing runs."""
        self._change_run(ev, lambda run: run.request_cancel(ev.payload.reason, cause=ev.event_id))

    def decide_approval(self, ev: ApprovalGiven | ApprovalRejected) -> None:
        """A human approved or refused what the run waits for; either is recorded with who and why."""
        run = self._run_for(ev)
        if run is None:
            return
        p, by = ev.payload, ev.actor.user_id
        answer = Answer(by, p.comment, ev.event_id)
        pending = run.pending_approval()
        if isinstance(ev, ApprovalRejected) and pending is not None and run.optional_task_of(pending) is not None:
            run.drop_task(p.approval_id, "refused", answer)
            self._advance_and_save(run)
            return
        if isinstance(ev, ApprovalRejected):
            run.refuse(p.approval_id, answer)
            self._save_run(run)
            return
        approval = run.approve(p.approval_id, answer)
        if approval.subject.startswith("task:"):
            task_id = approval.subject.removeprefix("task:")
            run.authorise_task(task_id, [f"approved-by:{by}"], "human-approval", cause=ev.event_id, now=self.clock())
        self._advance_and_save(run)

    def review_plan(self, ev: RunPlanReviewed) -> None:
        """A human continued with the plan (edited or not) or cancelled the run, before any search.

        The sub-questions are screened like the question: one that reads as instructions to the
        model is recorded as a guardrail trip and the revision is not applied (the run still waits).
        """
        run = self._run_for(ev)
        if run is None:
            return
        p, answer = ev.payload, Answer(ev.actor.user_id, ev.payload.comment, ev.event_id)
        if p.action == "cancel":
            run.cancel_plan(p.review_id, answer)
            self._save_run(run)
            return
        injections = Counter(f.kind for q in p.sub_questions for f in injection_findings(q))
        if injections:
            run.trip_guardrail("prompt_injection", "question", "rejected", dict(injections), cause=ev.event_id)
            self._save_run(run)
            return
        run.revise_plan(p.review_id, list(p.sub_questions), answer)
        self._advance_and_save(run)

    def _previous_draft(self, run: Run) -> Draft | None:
        if not run.previous_run_id:
            return None
        try:
            return final_draft(self.get_run(run.previous_run_id))
        except AggregateNotFoundError:
            return None

    def _run_for(self, ev: Event) -> Run | None:
        """The run an event is about; None when the event was applied already or the run is over."""
        if not ev.run_id:
            raise Rejected("event carries no run id")
        try:
            run = self.get_run(ev.run_id)
        except AggregateNotFoundError:
            raise NotReady(f"run {ev.run_id} is not known yet") from None
        if run.has_seen(ev.event_id) or run.is_terminal:
            return None
        return run

    def _change_run(self, ev: Event, change: Callable[[Run], None], *, advance: bool = True) -> None:
        """Apply `change` to the run `ev` is about (unless seen or over), then advance it and save."""
        run = self._run_for(ev)
        if run is None:
            return
        change(run)
        if advance:
            self._advance_and_save(run)
        else:
            self._save_run(run)

    def _advance_and_save(self, run: Run) -> None:
        advance(run, self.clock(), lambda: self._previous_draft(run))
        self._save_run(run)

    def _save_run(self, run: Run) -> None:
        """Save the run; one that has just ended is recorded by the rollouts that assigned it in
        the same commit, so its outcome counts exactly once, crash or not. (No use case changes
        a run that had ended before, so a run ended when saved has ended in this use case.)"""
        if run.is_terminal:
            self._save_together(run, *self.observe_run(run))
        else:
            self._save(run)
