"""Bus subscribers of billing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from contracts import subjects
from quarry_runtime.bus import Subscription
from quarry_runtime.errors import Rejected
from services.billing.application import Billing
from services.billing.domain import LedgerError


def _guarded(use_case: Callable[[Any], None]) -> Callable[[Any], Awaitable[None]]:
    async def handle(event: Any) -> None:
        try:
            use_case(event)
        except LedgerError as exc:
            raise Rejected(str(exc)) from exc

    return handle


def subscriptions(app: Billing) -> list[Subscription]:
    table: list[tuple[str, Callable[[Any], None]]] = [
        (subjects.RUN_REQUESTED, app.admit),
        (subjects.USAGE_RECORDED, app.meter),
        (subjects.RUN_COMPLETED, app.close_run),
        (subjects.RUN_FAILED, app.close_run),
        (subjects.RUN_CANCELLED, app.close_run),
        (subjects.RUN_EXPIRED, app.close_run),
        (subjects.RUN_REJECTED, app.close_run),
    ]
    return [Subscription(subject, f"billing-{subject.replace('.', '-')}", _guarded(fn)) for subject, fn in table]
