"""Cron expressions the gateway accepts (checked before a monitor is created): five fields, fires
at all, and never twice within the shortest interval a monitor may use."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from croniter import CroniterBadDateError, CroniterError, croniter

MINUTES_A_DAY = 24 * 60
# Long enough for a 29 February, short enough that croniter gives up on `0 0 30 2 *` in milliseconds
# (unbounded, it searches for decades).
SEARCH_YEARS = 8
# Firing days looked at for the shortest gap across midnight: four years of daily firing.
MAX_DAYS_SCANNED = 4 * 366


class NeverFires(ValueError):
    """A well-formed cron expression that matches no date (`0 0 30 2 *`)."""


def is_valid_cron(expression: str) -> bool:
    return len(expression.split()) == 5 and bool(croniter.is_valid(expression))


def shortest_gap_s(expression: str, now: datetime, *, below_s: int) -> int | None:
    """The shortest time between two consecutive fires of a valid five-field `expression` when it is
    under `below_s` seconds, else None; `NeverFires` when it matches no date, another `ValueError`
    when croniter cannot read it.

    The minutes of a day a cron fires at are the same every day it fires, so gaps within a day come
    from its minute and hour fields alone; only the gap across midnight depends on which days fire,
    and those are walked (bounded) only when that gap could be short enough to matter.
    """
    try:
        first = croniter(expression, now, max_years_between_matches=SEARCH_YEARS).get_next(datetime)
    except CroniterBadDateError as exc:
        raise NeverFires(
            f"the cron expression {expression!r} never fires (not once in the next {SEARCH_YEARS} years)"
        ) from exc
    minutes, hours = _field(expression, 0, range(60)), _field(expression, 1, range(24))
    day = sorted(h * 60 + m for h in hours for m in minutes)
    gaps = [b - a for a, b in pairwise(day)]
    shortest = min(gaps, default=MINUTES_A_DAY) * 60
    span = day[-1] - day[0]
    if (MINUTES_A_DAY - span) * 60 < below_s:
        # The first fire of each firing day, to find the two closest firing days.
        h0, m0 = divmod(day[0], 60)
        days_expr = " ".join([str(m0), str(h0), *expression.split()[2:]])
        start = first.replace(hour=0, minute=0) - timedelta(minutes=1)
        walk = croniter(days_expr, start, max_years_between_matches=SEARCH_YEARS)
        previous = walk.get_next(datetime)
        for _ in range(MAX_DAYS_SCANNED):
            try:
                current = walk.get_next(datetime)
            except CroniterBadDateError:
                break
            apart = (current.date() - previous.date()).days
            shortest = min(shortest, (apart * MINUTES_A_DAY - span) * 60)
            if apart == 1:
                break  # no two firing days are closer
            previous = current
    return shortest if shortest < below_s else None


def _field(expression: str, index: int, every: range) -> list[int]:
    try:
        values = croniter(expression).expanded[index]
    except CroniterError as exc:
        raise ValueError(f"not a cron expression: {expression!r}") from exc
    return list(every) if values == ["*"] else sorted(int(v) for v in values)
