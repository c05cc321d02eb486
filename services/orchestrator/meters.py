"""The orchestrator's metrics: runs started and ended by terminal state, run and task durations.

Observed as the outbox relay publishes a run's stored events (once per stored event in a relay's
life): the stored event says when, the contract events it becomes say what. A task's duration
runs from its dispatch to its outcome, both stored events; a dispatch this process did not relay
(before a restart) leaves its outcome untimed rather than timed wrong.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from contracts.run import RunCancelled, RunCompleted, RunExpired, RunFailed, RunRejected
from contracts.task import TaskDispatched
from quarry_runtime.metrics import Bounded, counter, histogram
from quarry_runtime.outbox import Outgoing
from services.orchestrator.runs.domain import Run
from services.orchestrator.runs.states import TERMINAL
from services.orchestrator.tasks import POLICIES

RUNS_STARTED = counter("quarry_runs_started", "Runs requested of the orchestrator")
RUNS_ENDED = counter("quarry_runs_ended", "Runs ended, by terminal state", ("state",))
RUN_SECONDS = histogram("quarry_run_duration_seconds", "From a run's request to its end, by terminal state", ("state",))
TASK_SECONDS = histogram(
    "quarry_task_duration_seconds", "From a task's dispatch to its outcome, by kind and outcome", ("kind", "outcome")
)
ENDED = {
    RunCompleted: "completed",
    RunFailed: "failed",
    RunRejected: "rejected",
    RunCancelled: "cancelled",
    RunExpired: "expired",
}
TASK_OUTCOMES = {"TaskSucceeded": "succeeded", "AttemptFailed": "retrying", "TaskFailed": "failed"}
# Dispatches waiting for their outcome, remembered per process; bounded, oldest forgotten first.
DISPATCHES_KEPT = 10_000

Translate = Callable[[Any], Sequence[Outgoing]]
RunAt = Callable[[Any, int], Run]


class RunMeters:
    """Counts what a run's stored events say as the relay translates them."""

    def __init__(self, run_at: RunAt) -> None:
        self._run_at = run_at
        self._kind = Bounded(POLICIES)
        self._state = Bounded(TERMINAL)
        self._dispatched: OrderedDict[tuple[str, str], tuple[str, datetime]] = OrderedDict()

    def observing(self, translate: Translate) -> Translate:
        """`translate`, observing each stored event and what it becomes."""

        def observed(domain_event: Any) -> Sequence[Outgoing]:
            out = translate(domain_event)
            if type(domain_event).__qualname__.startswith(f"{Run.__name__}."):
                self.observe(domain_event, out)
            return out

        return observed

    def observe(self, domain_event: Any, out: Sequence[Outgoing]) -> None:
        name = type(domain_event).__name__
        when: datetime = domain_event.timestamp
        run_key = str(domain_event.originator_id)
        if name == "Requested":
            RUNS_STARTED.inc()
        for item in out:
            event = item.event
            if isinstance(event, TaskDispatched):
                self._dispatched[(run_key, event.payload.task_id)] = (self._kind(event.payload.kind), when)
                while len(self._dispatched) > DISPATCHES_KEPT:
                    self._dispatched.popitem(last=False)
            elif type(event) in ENDED:
                self._ended(domain_event, self._state(ENDED[type(event)]), when)
        if name in TASK_OUTCOMES:
            dispatched = self._dispatched.pop((run_key, domain_event.task_id), None)
            if dispatched is not None:
                kind, since = dispatched
                TASK_SECONDS.labels(kind, TASK_OUTCOMES[name]).observe((when - since).total_seconds())

    def _ended(self, domain_event: Any, state: str, when: datetime) -> None:
        RUNS_ENDED.labels(state).inc()
        run = self._run_at(domain_event.originator_id, domain_event.originator_version)
        RUN_SECONDS.labels(state).observe(max(0.0, (when - run.created_on).total_seconds()))
        for key in [k for k in self._dispatched if k[0] == str(domain_event.originator_id)]:
            del self._dispatched[key]  # a task cut short by the run's end has no outcome to wait for
