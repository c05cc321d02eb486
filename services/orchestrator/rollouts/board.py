"""The RolloutBoard aggregate: every rollout of one component, newest last. Pure.

Admission asks which rollout of each component is under way, and a start must refuse a second
one; neither may scan every rollout. One board per component, with an id fixed by the
component's name, holds the ids. Two replicas starting a rollout of the same component race
on the board's next version: the loser's save fails, it reloads, and finds the other's rollout.
"""

from __future__ import annotations

import uuid

from eventsourcing.domain import Aggregate, event

from services.orchestrator.owned import id_from

# Fixed for good: the ids of stored boards are made from it.
_BOARDS = uuid.UUID("3f0b2a52-7d1e-4c64-8f3a-1c0e7b9d5a21")


def board_id(component: str) -> str:
    return str(uuid.uuid5(_BOARDS, component))


class RolloutBoard(Aggregate):
    create_id = id_from("board_id")

    @classmethod
    def open(cls, component: str) -> RolloutBoard:
        return cls(board_id=board_id(component), component=component)

    @event("BoardOpened")
    def __init__(self, board_id: str, component: str) -> None:
        self.board_id = board_id
        self.component = component
        self.rollouts: list[str] = []

    @property
    def latest(self) -> str | None:
        """The newest rollout: the only one that may be under way."""
        return self.rollouts[-1] if self.rollouts else None

    def begin(self, rollout_id: str) -> None:
        self._begun(rollout_id=rollout_id)

    @event("RolloutBegun")
    def _begun(self, rollout_id: str) -> None:
        self.rollouts.append(rollout_id)
