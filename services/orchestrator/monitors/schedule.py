"""When a monitor's slots fall: pure functions over cron expressions and fixed intervals (UTC)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from croniter import CroniterBadDateError, croniter

from quarry_runtime.errors import Rejected

# croniter searches up to 50 years by default: seconds of CPU for a cron that never fires.
SEARCH_YEARS = 8


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
    try:
        found: datetime = croniter(cron, after.astimezone(UTC), max_years_between_matches=SEARCH_YEARS).get_next(
            datetime
        )
    except CroniterBadDateError as exc:
        raise Rejected(f"the cron {cron!r} does not fire within {SEARCH_YEARS} years") from exc
    return found.astimezone(UTC)
