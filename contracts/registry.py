"""Lookup from subject to event model, and parsing of raw messages into events."""

from __future__ import annotations

from contracts import (
    agents,
    approval,
    credits,
    document,
    guardrail,
    monitor,
    policy,
    question,
    report,
    rollouts,
    run,
    subjects,
    task,
    timer,
    tool,
    usage,
)
from contracts.envelope import Event

# The modules that define events: EVENT_TYPES holds every event each defines, module by module,
# in the order they are defined.
_EVENT_MODULES = (
    run,
    approval,
    timer,
    monitor,
    guardrail,
    credits,
    tool,
    policy,
    task,
    usage,
    report,
    document,
    question,
    agents,
    rollouts,
)

EVENT_TYPES: tuple[type[Event], ...] = tuple(
    cls
    for module in _EVENT_MODULES
    for cls in vars(module).values()
    if isinstance(cls, type) and issubclass(cls, Event) and cls.TYPE and cls.__module__ == module.__name__
)

_BY_TYPE: dict[str, type[Event]] = {cls.TYPE: cls for cls in EVENT_TYPES}


def event_type_for_subject(subject: str) -> type[Event]:
    """The model published on `subject` (a role lane maps to TaskDispatched)."""
    if subject.startswith(subjects.TASK_DISPATCHED + ".") or subject == subjects.TASK_DISPATCHED:
        return task.TaskDispatched
    for cls in EVENT_TYPES:
        if subject == cls.SUBJECT:
            return cls
    raise KeyError(f"no event is published on subject {subject!r}")


def parse_event(data: bytes | str) -> Event:
    """Parse any envelope by its `type` field; raises pydantic.ValidationError or KeyError."""
    head = Event.model_validate_json(data)
    cls = _BY_TYPE.get(head.type)
    if cls is None:
        raise KeyError(f"unknown event type {head.type!r}")
    return cls.model_validate_json(data)
