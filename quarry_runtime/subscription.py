"""What a service subscribes: one durable consumer of a subject, and the handler it feeds."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from contracts.envelope import Event
from contracts.registry import event_type_for_subject

Handler = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """One durable consumer: which subject, under which durable name, to which handler."""

    subject: str
    durable: str
    handler: Handler
    batch: int = 16
    # Called with the event and the reason before a message that keeps failing is dead-lettered,
    # so whoever waits for its outcome hears of the failure instead of waiting forever.
    on_give_up: Callable[[Any, str], Awaitable[None]] | None = None
    # Above 1: messages are handled by this many concurrent workers as they arrive, instead of
    # a fetched batch being handled together (where the slowest holds the next fetch back).
    max_workers: int = 1
    # Asked with a message's event id (its Nats-Msg-Id) before it is parsed: True when this
    # process applied the event itself as it published it, so the message is acknowledged with
    # nothing parsed or handled (the gateway reads back every run.* event its requests publish).
    applied_here: Callable[[str], bool] | None = None

    def event_type(self) -> type[Event] | None:
        """The model each message is validated as: the one the handler's parameter is annotated
        with; for a handler of any event (`Event`, `Any`), the subject's own model, or on a
        wildcard subject None (the model the message's type names)."""
        declared = annotated_event_type(self.handler)
        wildcard = "*" in self.subject or ">" in self.subject
        published = None if wildcard else event_type_for_subject(self.subject)
        if declared is None:
            return published
        if published is not None and published is not declared:
            raise TypeError(
                f"{self.durable}: its handler takes {declared.__name__}, {self.subject} carries {published.__name__}"
            )
        return declared


def annotated_event_type(handler: Callable[..., Any]) -> type[Event] | None:
    """The concrete event model a handler's first parameter is annotated with, if any."""
    try:
        first = next(iter(inspect.signature(handler).parameters.values()), None)
        hint = typing.get_type_hints(handler).get(first.name) if first is not None else None
    except (NameError, TypeError, ValueError):
        return None  # an annotation that does not resolve here says nothing we can use
    if isinstance(hint, type) and issubclass(hint, Event) and hint is not Event:
        return hint
    return None
