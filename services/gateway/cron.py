"""Cron expressions the gateway accepts (checked before a monitor is created)."""

from __future__ import annotations

from croniter import croniter


def is_valid_cron(expression: str) -> bool:
    return len(expression.split()) == 5 and bool(croniter.is_valid(expression))
