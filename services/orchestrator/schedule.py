"""When a monitor's slots fall: pure functions over cron expressions and fixed intervals (UTC)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from croniter import croniter


def is_valid_cron(expression: str) -> bool:
    return bool(croniter.is_valid(expression)) and len(expression.split()) == 5


def next_slot(*, cron: str | None, interval_s: int | None, anchor: datetime, after: datetime) -> datetime:
    """The first slot strictly after `after`. Interval slots are anchor + k * interval, so a
    monitor keeps its rhythm across restarts and late firings instead of drifting."""
    if interval_s is not None:
        elapsed = (after - anchor).total_seconds()
        k = max(0, math.floor(elapsed / interval_s) + 1)
        return anchor + timedelta(seconds=k * interval_s)
    if cron is None:
        raise ValueError("a schedule needs a cron expression or an interval")
    found: datetime = croniter(cron, after.astimezone(UTC)).get_next(datetime)
    return found.astimezone(UTC)
