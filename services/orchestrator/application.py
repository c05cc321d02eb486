"""The orchestrator: runs, follow-up questions, monitors, agent versions and their rollouts in one
event store and one outbox.

Their use cases live with each aggregate (`runs`, `questions`, `monitors`, `agents`, `rollouts`); the kernel
(`quarry_runtime.eventsourced`) gives them the store, the clock and the group commit, and this
class adds the snapshots of runs that ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from services.orchestrator.agents.application import AgentUseCases
from services.orchestrator.agents.domain import AgentComponent
from services.orchestrator.monitors.application import MonitorUseCases
from services.orchestrator.monitors.domain import Monitor
from services.orchestrator.questions.application import QuestionUseCases
from services.orchestrator.rollouts.application import RolloutUseCases
from services.orchestrator.rollouts.board import RolloutBoard
from services.orchestrator.rollouts.domain import Rollout
from services.orchestrator.runs.application import RunUseCases
from services.orchestrator.runs.domain import Run
from services.orchestrator.transcodings import TRANSCODINGS


class Orchestrator(RunUseCases, QuestionUseCases, MonitorUseCases, RolloutUseCases, AgentUseCases):
    """Runs as event-sourced aggregates, driven by bus events.

    A run is snapshotted when it ends (and every `snapshotting_intervals` events on the way),
    so reading a finished run costs one snapshot instead of its whole history.
    """

    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Run: 40,
        Monitor: 50,
        AgentComponent: 50,
        # A rollout records every finished run it assigned and every look: read from a snapshot.
        Rollout: 100,
        RolloutBoard: 50,
    }

    def register_transcodings(self, transcoder: Any) -> None:
        super().register_transcodings(transcoder)
        for transcoding in TRANSCODINGS:
            transcoder.register(transcoding)

    def committed(self, aggregates: Sequence[Any]) -> None:
        """After a commit: snapshot the runs that ended, so reading them costs one snapshot."""
        ended = [a for a in aggregates if isinstance(a, Run) and a.is_terminal]
        if ended and self.snapshots is not None:
            # Taken from the objects just committed: the state a read at their version would fold.
            self.snapshots.put([type(run).Snapshot.take(run) for run in ended])
        super().committed(aggregates)
