"""How a Run's state is stored in a snapshot: its dataclasses and sets as plain JSON."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Transcoding

from services.orchestrator.runs.domain import Approval
from services.orchestrator.saga import TaskState


class TaskStateAsDict(Transcoding):
    type = TaskState
    name = "quarry_task_state"

    def encode(self, obj: TaskState) -> dict[str, Any]:
        return dict(vars(obj))

    def decode(self, data: dict[str, Any]) -> TaskState:
        return TaskState(**data)


class ApprovalAsDict(Transcoding):
    type = Approval
    name = "quarry_approval"

    def encode(self, obj: Approval) -> dict[str, Any]:
        return dict(vars(obj))

    def decode(self, data: dict[str, Any]) -> Approval:
        return Approval(**data)


class SetAsList(Transcoding):
    type = set
    name = "quarry_set"

    def encode(self, obj: set[Any]) -> list[Any]:
        return sorted(obj)

    def decode(self, data: list[Any]) -> set[Any]:
        return set(data)


TRANSCODINGS: tuple[Transcoding, ...] = (TaskStateAsDict(), ApprovalAsDict(), SetAsList())
