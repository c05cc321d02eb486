"""The gateway's own metrics beyond HTTP (quarry_runtime.httpmetrics): the consumer lag sampler's."""

from __future__ import annotations

from quarry_runtime.metrics import counter, gauge

LAG_SAMPLES = counter(
    "quarry_lag_samples",
    "Consumer lag samples this replica took: stored, duplicate (another replica's was first), failed (a pass)",
    ("outcome",),
)
OWED_SECONDS = gauge(
    "quarry_consumer_owed_seconds",
    "Age of the oldest message a durable consumer owes, as the gateway last sampled it (0: caught up)",
    ("stream", "consumer"),
)
