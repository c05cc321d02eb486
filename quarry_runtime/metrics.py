"""Prometheus metrics every service shares, and the rule every label follows: a closed set of values.

A label value that carries a tenant, a run, a raw subject or a URL makes one time series per
value, which a Prometheus server cannot keep for long. So every label here takes its values
from a set fixed when the process starts (`Bounded`): a consumer's durable name, a route
template, a status code, an outcome, a model or tool name from configuration. Anything else is
counted under `other`.

Names are `quarry_*` with their unit in the name. Each service registers its own domain metrics
(runs, credits, decisions, model calls, page fetches) in its composition root or application
layer, with the helpers here; the domain stays free of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

OTHER = "other"
# Ids in the shape Quarry makes them (UUIDs, hex digests): never a label value.
_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|[0-9a-f]{24,}", re.IGNORECASE)
# Seconds from a millisecond hop to a long model call or a whole run.
DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


def looks_like_an_id(value: str) -> bool:
    """Whether `value` holds something shaped like a tenant, run or event id."""
    return _ID.search(value) is not None


class Bounded:
    """A label's closed set of values: each value outside it (or shaped like an id) is `other`."""

    def __init__(self, values: Iterable[str]) -> None:
        self.values = frozenset(v for v in values if v and not looks_like_an_id(v))

    def __call__(self, value: str | None) -> str:
        return value if value in self.values else OTHER


def counter(name: str, documentation: str, labels: Iterable[str] = ()) -> Counter:
    """A `quarry_*_total` counter (prometheus_client adds the `_total`)."""
    return Counter(_named(name), documentation, tuple(labels))


def histogram(
    name: str, documentation: str, labels: Iterable[str] = (), buckets: tuple[float, ...] = DURATION_BUCKETS_S
) -> Histogram:
    return Histogram(_named(name), documentation, tuple(labels), buckets=buckets)


def gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> Gauge:
    return Gauge(_named(name), documentation, tuple(labels))


def _named(name: str) -> str:
    if not name.startswith("quarry_"):
        raise ValueError(f"metric {name!r}: Quarry's metrics are named quarry_*")
    return name


CONSUMER_MESSAGES = counter(
    "quarry_consumer_messages",
    "Messages a durable consumer was done with: processed (acked), failed (to be redelivered), dead_lettered",
    ("service", "consumer", "outcome"),
)
CONSUMER_HANDLING_SECONDS = histogram(
    "quarry_consumer_handling_seconds",
    "Time from a delivery's dispatch to its ack, nack or dead letter",
    ("service", "consumer"),
)
CONSUMER_LAG_SECONDS = gauge(
    "quarry_consumer_lag_seconds",
    "Age of the message a consumer took last, when it took it: how far behind the stream it runs",
    ("service", "consumer"),
)


TASK_SECONDS = histogram(
    "quarry_task_duration_seconds",
    "A task's run on a worker, from its start to its result, by kind and outcome (succeeded, failed, timed_out)",
    ("kind", "outcome"),
)


@dataclass(frozen=True, slots=True)
class ConsumerMeters:
    """One consumer's series, bound once: a message pays for no label lookup."""

    processed: Counter
    failed: Counter
    dead_lettered: Counter
    handling_s: Histogram
    lag_s: Gauge

    @classmethod
    def of(cls, service: str, durable: str) -> ConsumerMeters:
        # A durable name is fixed by the code (contracts.consumers), never made from a message.
        labels = (service, durable)
        return cls(
            processed=CONSUMER_MESSAGES.labels(*labels, "processed"),
            failed=CONSUMER_MESSAGES.labels(*labels, "failed"),
            dead_lettered=CONSUMER_MESSAGES.labels(*labels, "dead_lettered"),
            handling_s=CONSUMER_HANDLING_SECONDS.labels(*labels),
            lag_s=CONSUMER_LAG_SECONDS.labels(*labels),
        )
