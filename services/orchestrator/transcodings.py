"""How a Run's state is stored in a snapshot: its dataclasses and sets as plain JSON."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Transcoding

from services.orchestrator.runs.domain import Approval
from services.orchestrator.saga import TaskState


class DataclassAsDict(Transcoding):
    """A dataclass as the dict of its fields."""

    def __init__(self, type_: type[Any], name: str) -> None:
        self.type = type_
        self.name = name

    def encode(self, obj: Any) -> dict[str, Any]:
        return dict(vars(obj))

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**data)


class SetAsList(Transcoding):
    type = set
    name = "quarry_set"

    def encode(self, obj: set[Any]) -> list[Any]:
        return sorted(obj)

    def decode(self, data: list[Any]) -> set[Any]:
        return set(data)


TRANSCODINGS: tuple[Transcoding, ...] = (
    DataclassAsDict(TaskState, "quarry_task_state"),
    DataclassAsDict(Approval, "quarry_approval"),
    SetAsList(),
)
