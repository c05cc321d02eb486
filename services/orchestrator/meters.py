"""The orchestrator's metrics: runs started, runs ended by terminal state, and how long they took.

Counted from a run's stored events as the outbox relay records them published (once per event,
whichever replica relays it): the stored event says when, the contract events it became say what.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from contracts.run import RunCancelled, RunCompleted, RunExpired, RunFailed, RunRejected
from quarry_runtime.metrics import Bounded, counter, histogram
from quarry_runtime.outbox import Outgoing
from services.orchestrator.runs.domain import Run
from services.orchestrator.runs.states import TERMINAL

RUNS_STARTED = counter("quarry_runs_started", "Runs requested of the orchestrator")
RUNS_ENDED = counter("quarry_runs_ended", "Runs ended, by terminal state", ("state",))
RUN_SECONDS = histogram("quarry_run_duration_seconds", "From a run's request to its end, by terminal state", ("state",))
ENDED: dict[type[Any], str] = {
    RunCompleted: "completed",
    RunFailed: "failed",
    RunRejected: "rejected",
    RunCancelled: "cancelled",
    RunExpired: "expired",
}

RunAt = Callable[[Any, int], Run]


class RunMeters:
    """Counts what a run's relayed events say (`OutboxRelay(relayed=...)`)."""

    def __init__(self, run_at: RunAt) -> None:
        self._run_at = run_at
        self._state = Bounded(TERMINAL)

    def __call__(self, domain_event: Any, out: Sequence[Outgoing]) -> None:
        if not type(domain_event).__qualname__.startswith(f"{Run.__name__}."):
            return  # a question's or a monitor's
        if type(domain_event).__name__ == "Requested":
            RUNS_STARTED.inc()
        for item in out:
            state = ENDED.get(type(item.event))
            if state is not None:
                self._ended(domain_event, self._state(state))

    def _ended(self, domain_event: Any, state: str) -> None:
        RUNS_ENDED.labels(state).inc()
        run = self._run_at(domain_event.originator_id, domain_event.originator_version)
        RUN_SECONDS.labels(state).observe(max(0.0, (domain_event.timestamp - run.created_on).total_seconds()))
