"""Errors the runtime understands when a handler raises them."""

from __future__ import annotations


class QuarryError(Exception):
    """Base of every error raised on purpose by Quarry code."""


class NotReady(QuarryError):
    """The event arrived before what it depends on: redeliver it later, it is not poison."""

    def __init__(self, reason: str, delay_s: float = 0.5) -> None:
        super().__init__(reason)
        self.delay_s = delay_s


class Rejected(QuarryError):
    """The event is well-formed but can never be processed: dead-letter it with this reason."""


class Unavailable(QuarryError):
    """Something the work needs (the database, a downstream service) cannot be reached right now.

    The message or request is not at fault: a bus handler raising it is redelivered with backoff
    for as long as it takes and never dead-lettered for it; an HTTP request answers 503.
    """
