"""The Run aggregate: every fact about a run is one of its stored events. Pure: no I/O, no clock.

Its states and human gates are `runs.gates`, its task lifecycle the task saga's (`saga`); here
are its steps' bookkeeping (throttled tool requests, retries after a backoff, what a finished
step leaves for the next) and how it ends.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from eventsourcing.domain import event

from services.orchestrator.moved import answer_to_old_topics
from services.orchestrator.owned import id_from
from services.orchestrator.runs.gates import GatedRun
from services.orchestrator.runs.states import (
    CONSUMES,
    MAX_THROTTLE_WAIT_S,
    MAX_THROTTLES,
    PLAN_REVIEW,
    STATE_OF_STEP,
    TERMINAL,
    TRANSITIONS,
    V1_DEFAULTS,
    Answer,
    Approval,
    RunError,
)
from services.orchestrator.saga import TaskState
from services.orchestrator.tasks import POLICIES

Agents = dict[str, str]  # component -> version
Arms = dict[str, dict[str, Any]]  # component -> contracts.run.RolloutArm as JSON

# Re-exported: what callers know a run by lives with the run.
__all__ = [
    "MAX_THROTTLES",
    "MAX_THROTTLE_WAIT_S",
    "PLAN_REVIEW",
    "RUN_TOPIC_BEFORE_MOVE",
    "TRANSITIONS",
    "V1_DEFAULTS",
    "Answer",
    "Approval",
    "Run",
    "RunError",
]


class Run(GatedRun):
    """One research run, folded from its events."""

    policies = POLICIES
    error = RunError
    terminal = TERMINAL

    # Version 3 of a run's snapshotted state has every field below; earlier versions lacked some.
    class_version = 3

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A snapshot from before these fields existed: what such a run had instead. A failure then
        was the platform's (refunded, as it was then), and no plan review was asked for."""
        for name, default in V1_DEFAULTS.items():
            state.setdefault(name, copy.deepcopy(default))

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """Runs from before agent versions ran every component on its worker's built-in settings."""
        state.update({"agent_versions": {}, "rollouts": {}} | state)

    create_id = id_from("run_id")

    @event("Requested")
    def __init__(
        self,
        run_id: str,
        tenant_id: str,
        user_id: str | None,
        roles: list[str],
        question: str,
        depth: int,
        max_sources: int,
        cause: str,
        traceparent: str | None = None,
        approval_required: bool = False,
        approval_timeout_s: int = 7 * 24 * 3600,
        monitor_id: str | None = None,
        previous_run_id: str | None = None,
        pii_policy: str = "redact",
        sources: list[str] | None = None,
        datasets: list[str] | None = None,
        length: str = "standard",
        target_words: int | None = None,
        template: dict[str, Any] | None = None,
        review_plan: bool = False,
    ) -> None:
        self._begin("requested", tenant_id, user_id, roles, traceparent, cause)
        self.run_id = run_id
        self.question = question
        self.depth = depth
        self.max_sources = max_sources
        self.approval_required = approval_required
        self.approval_timeout_s = approval_timeout_s
        self.review_plan = review_plan
        self.monitor_id = monitor_id
        self.previous_run_id = previous_run_id
        self.pii_policy = pii_policy
        self.sources = list(sources) if sources else None
        self.datasets = list(datasets) if datasets else None
        self.length = length
        self.target_words = target_words
        # The research template as resolved by the gateway: id, version, name, outline, tone.
        self.template = dict(template) if template else None
        self.search_tallies: dict[str, dict[str, Any]] = {}
        self.passages_kept: int | None = None
        # Whose fault a failure was (contracts.task.Fault): who pays for it.
        self.failure_fault = "platform"
        self.plan = "free"
        self.credits_reserved = 0
        # Fixed at admission: component -> the version its tasks run, and how rollouts assigned them.
        self.agent_versions: dict[str, str] = {}
        self.rollouts: dict[str, dict[str, Any]] = {}
        self.sub_questions: list[str] = []
        self.approvals: dict[str, Approval] = {}
        self.cancel_reason: str | None = None

    # -- queries ---------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return f"run {self.run_id}"

    def in_flight(self) -> list[TaskState]:
        return [t for t in self.tasks.values() if t.in_flight]

    # -- lifecycle -------------------------------------------------------------------------

    def _check_step(self, kind: str) -> None:
        self._check_move(STATE_OF_STEP[kind])

    def _task_added(self, task: TaskState) -> None:
        self._move(STATE_OF_STEP[task.kind])

    def admit(
        self, credits: int, plan: str, cause: str, agents: Agents | None = None, arms: Arms | None = None
    ) -> None:
        """Start the run on `credits` reserved, with the version of each component it will use
        (`agents`) and how rollouts chose them (`arms`): its tasks carry these, never a later version."""
        self._check_move("admitted")
        self._admitted(credits=credits, plan=plan, cause=cause, agent_versions=agents or {}, rollouts=arms or {})

    # Admitted events stored before agent versions have neither of the last two.
    @event("Admitted")
    def _admitted(self, credits: int, plan: str, cause: str, agent_versions: Agents = {}, rollouts: Arms = {}) -> None:  # noqa: B006 - never mutated
        self._move("admitted")
        self.credits_reserved = credits
        self.plan = plan
        self.agent_versions = dict(agent_versions)
        self.rollouts = {component: dict(arm) for component, arm in rollouts.items()}
        self.bus_events.add(cause)

    def reject(self, reason: str, cause: str) -> None:
        self._check_move("rejected")
        self._rejected(reason=reason, cause=cause)

    @event("Rejected")
    def _rejected(self, reason: str, cause: str) -> None:
        self._move("rejected")
        self.failure = reason
        self.bus_events.add(cause)

    # -- tasks -----------------------------------------------------------------------------

    def throttle_task(self, task_id: str, reasons: list[str], retry_at: datetime, cause: str) -> None:
        """Policy refused the tool for now (a rate limit): ask again at `retry_at`."""
        self._awaiting_policy(task_id)
        self._tool_throttled(task_id=task_id, reasons=reasons, retry_at=retry_at, cause=cause)

    @event("ToolThrottled")
    def _tool_throttled(self, task_id: str, reasons: list[str], retry_at: datetime, cause: str) -> None:
        task = self.tasks[task_id]
        task.throttles += 1
        task.errors.append(f"held back: {'; '.join(reasons)}")
        self.bus_events.add(cause)

    def request_tool_again(self, task_id: str, cause: str) -> None:
        """The throttle is over: the tool request goes to policy again."""
        task = self.task(task_id)
        if task.status != "requested" or task.throttles == 0:
            raise RunError(f"task {task_id} is not held back by policy")
        self._tool_requested_again(task_id=task_id, cause=cause)

    @event("ToolRequestedAgain")
    def _tool_requested_again(self, task_id: str, cause: str) -> None:
        self.bus_events.add(cause)

    def queue_approval(self, task_id: str, reason: str, timeout_s: int | None, cause: str) -> None:
        """Policy wants a human to approve the tool while the run already waits for one: the
        request waits its turn (`advance` asks for it once the pending approval is decided)."""
        self._awaiting_policy(task_id)
        self._approval_queued(task_id=task_id, reason=reason, timeout_s=timeout_s, cause=cause)

    @event("ApprovalQueued")
    def _approval_queued(self, task_id: str, reason: str, timeout_s: int | None, cause: str) -> None:
        task = self.tasks[task_id]
        task.status = "awaiting_approval"
        task.reason = reason
        task.approval_timeout_s = timeout_s
        self.bus_events.add(cause)

    def _task_done(self, task: TaskState) -> None:
        output = task.output or {}
        if task.kind == "plan":
            self.sub_questions = list(output.get("sub_questions", []))
        elif task.kind in ("search", "fetch", "read", "collect"):
            self._tally_retrieval(task.kind, task.task_id, output)
        # The state keeps what the steps still to come need; what a finished step consumed stays
        # in the log (where replay, audit and the read models find it) but leaves the state, so
        # a run's snapshot is its present, not its history.
        for consumed in CONSUMES.get(task.kind, ()):
            for other in self.tasks.values():
                if other.kind == consumed:
                    other.output = None

    def _tally_retrieval(self, kind: str, task_id: str, output: dict[str, Any]) -> None:
        # The searches' passages leave the state once collected; the report's methods section
        # still needs how many there were and from which documents.
        if kind == "collect":
            self.passages_kept = int(output.get("passages", 0))
            return
        tallies = self.search_tallies
        if kind in ("fetch", "read"):
            # Pages and dataset passages count toward their sub-question's tally (a run that reads
            # only datasets has no search of it, so its first read starts one).
            for finding in output.get("findings", []):
                sub_question = str(finding.get("sub_question", ""))
                key = next((k for k, t in tallies.items() if t["sub_question"] == sub_question), None)
                if key is None:
                    key = f"{task_id}:{len(tallies)}"
                    tallies[key] = {"sub_question": sub_question, "passages": 0, "source_ids": []}
                tally, found = tallies[key], finding.get("passages", [])
                tally["passages"] += len(found)
                tally["source_ids"] = sorted({*tally["source_ids"], *(str(p.get("source_id", "")) for p in found)})
            return
        passages = output.get("passages", [])
        sub_question = str(output.get("sub_question", ""))
        searched = {t.task_id for t in self.tasks_of("search")}
        # A read of the same sub-question that finished first: its count joins this search's.
        early = next((k for k, t in tallies.items() if k not in searched and t["sub_question"] == sub_question), None)
        before: dict[str, Any] = tallies.pop(early) if early is not None else {"passages": 0, "source_ids": []}
        tallies[task_id] = {
            "sub_question": sub_question,
            "passages": len(passages) + before["passages"],
            "source_ids": sorted({*before["source_ids"], *(str(p.get("source_id", "")) for p in passages)}),
        }

    def record_failure(
        self,
        task_id: str,
        attempt: int | None,
        reason: str,
        retryable: bool,
        usage_event_ids: list[str],
        cause: str | None,
        now: datetime,
        fault: str = "platform",
    ) -> None:
        """An attempt failed (or timed out): retry after a backoff while attempts remain."""
        task = self._open_task(task_id)
        if attempt is not None and attempt != task.attempt:
            raise RunError(f"attempt {attempt} of task {task_id} is stale (now at {task.attempt})")
        if retryable and task.attempt < task.max_attempts:
            retry_at = now + POLICIES[task.kind].backoff(task.attempt)
            self._attempt_failed(
                task_id=task_id,
                attempt=task.attempt,
                reason=reason,
                usage_event_ids=usage_event_ids,
                retry_at=retry_at,
                cause=cause,
            )
        else:
            self._fail_task(task, reason, usage_event_ids, cause, fault)

    @event("AttemptFailed")
    def _attempt_failed(
        self, task_id: str, attempt: int, reason: str, usage_event_ids: list[str], retry_at: datetime, cause: str | None
    ) -> None:
        self._note_failed_attempt(task_id, attempt, reason, usage_event_ids, cause).status = "retrying"

    def retry(self, task_id: str, now: datetime, cause: str | None = None) -> None:
        """The backoff is over: dispatch the next attempt."""
        task = self.task(task_id)
        if task.status != "retrying":
            raise RunError(f"task {task_id} is {task.status}, not waiting to retry")
        self._dispatch(task, now, cause)

    # -- ending ----------------------------------------------------------------------------

    def request_cancel(self, reason: str, cause: str) -> None:
        if self.is_terminal:
            raise RunError(f"run {self.run_id} is already {self.state}")
        self._cancel_requested(reason=reason, cause=cause)

    @event("CancelRequested")
    def _cancel_requested(self, reason: str, cause: str) -> None:
        self.cancel_reason = reason
        self.bus_events.add(cause)

    def cancel(self) -> None:
        self._check_move("cancelled")
        self._cancelled(reason=self.cancel_reason or "cancelled")

    @event("Cancelled")
    def _cancelled(self, reason: str) -> None:
        self._move("cancelled")
        self.failure = reason

    def complete(self) -> None:
        self._check_move("completed")
        self._completed()

    @event("Completed")
    def _completed(self) -> None:
        self._move("completed")

    def fail(self, reason: str, step: str | None, fault: str = "platform") -> None:
        """End the run failed; `fault` says who pays (contracts.task.Fault)."""
        self._check_move("failed")
        self._failed(reason=reason, step=step, fault=fault)

    @event("Failed")
    def _failed(self, reason: str, step: str | None, fault: str = "platform") -> None:
        self._move("failed")
        self.failure = reason
        self.failure_fault = fault


# Where Run was defined before the orchestrator was laid out by aggregate.
RUN_TOPIC_BEFORE_MOVE = "services.orchestrator.domain:Run"
answer_to_old_topics(RUN_TOPIC_BEFORE_MOVE.partition(":")[0], Run)
