"""A consumer's lag over time: which time slot a sample belongs to, the id that keeps one sample
per consumer and slot however many gateway replicas take it, and a long trend thinned for a chart.

Every replica samples at the start of each slot (`interval_s` long, counted from the epoch); the
samples of one slot carry the same `Nats-Msg-Id`, so JetStream keeps the first and drops the rest
within its duplicate window. Thinning keeps, of each run of neighbouring samples, the one furthest
behind: a chart of a thinned trend still shows every peak.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar


class Lagging(Protocol):
    @property
    def lag_s(self) -> float | None: ...


T = TypeVar("T", bound=Lagging)


def slot_of(at: datetime, interval_s: float) -> int:
    """The slot `at` falls in: slots are `interval_s` long, counted from the epoch."""
    return math.floor(at.timestamp() / interval_s)


def slot_start(slot: int, interval_s: float) -> float:
    """When slot `slot` begins, in seconds since the epoch."""
    return slot * interval_s


def sample_id(stream: str, consumer: str, slot: int) -> str:
    """The `Nats-Msg-Id` of a consumer's sample in one slot: the same from every replica."""
    return f"lag.{stream}.{consumer}.{slot}"


def thin(samples: Sequence[T], limit: int) -> list[T]:
    """At most `limit` of `samples` (in order): each a run's sample with the largest lag, an
    unreadable lag (None) counting as the largest, since it is what an operator must see."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(samples) <= limit:
        return list(samples)
    kept: list[T] = []
    for i in range(limit):
        run = samples[len(samples) * i // limit : len(samples) * (i + 1) // limit]
        kept.append(max(run, key=lambda s: math.inf if s.lag_s is None else s.lag_s))
    return kept
