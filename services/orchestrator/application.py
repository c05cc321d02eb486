"""The orchestrator: runs, follow-up questions and monitors in one event store and one outbox.

Their use cases live with each aggregate (`runs`, `questions`, `monitors`); this class gives
them the store, the clock, the group commit and the snapshots they share.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from quarry_runtime.groupcommit import GroupCommit
from quarry_runtime.outbox import OutboxApplication
from services.orchestrator.monitors.application import MonitorUseCases
from services.orchestrator.monitors.domain import Monitor
from services.orchestrator.questions.application import QuestionUseCases
from services.orchestrator.questions.domain import Question
from services.orchestrator.runs.application import RunUseCases
from services.orchestrator.runs.domain import Run
from services.orchestrator.transcodings import TRANSCODINGS

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Orchestrator(RunUseCases, QuestionUseCases, MonitorUseCases, OutboxApplication):
    """Runs as event-sourced aggregates, driven by bus events.

    A run is snapshotted when it ends (and every `snapshotting_intervals` events on the way),
    so reading a finished run costs one snapshot instead of its whole history.
    """

    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Run: 40, Monitor: 50}

    on_saved: Callable[[], None] = staticmethod(lambda: None)
    clock: Clock = staticmethod(_utcnow)

    # Set by the composition root: saves made while a bus event is handled are committed in
    # groups (see quarry_runtime.groupcommit); without it every save commits at once.
    group: GroupCommit | None = None

    def register_transcodings(self, transcoder: Any) -> None:
        super().register_transcodings(transcoder)
        for transcoding in TRANSCODINGS:
            transcoder.register(transcoding)

    def _load(self, aggregate_id: Any) -> Any:
        staged = self.group.get(aggregate_id) if self.group is not None else None
        return staged if staged is not None else self.repository.get(aggregate_id)

    def _save(self, aggregate: Run | Monitor | Question) -> None:
        if self.group is not None and self.group.active:
            self.group.stage(aggregate)
            return
        self.save(aggregate)
        self.committed([aggregate])

    def committed(self, aggregates: Sequence[Any]) -> None:
        """After a commit: snapshot the runs that ended, so reading them costs one snapshot."""
        ended = [a for a in aggregates if isinstance(a, Run) and a.is_terminal]
        if ended and self.snapshots is not None:
            # Taken from the objects just committed: the state a read at their version would fold.
            self.snapshots.put([type(run).Snapshot.take(run) for run in ended])
        self.on_saved()
