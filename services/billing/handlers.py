"""Bus subscribers of billing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from contracts import consumers, subjects
from quarry_runtime.bus import Subscription
from quarry_runtime.errors import NotReady, Rejected
from services.billing.application import Billing
from services.billing.domain import LedgerError


def _guarded(app: Billing, use_case: Callable[[Any], None]) -> Callable[[Any], Awaitable[None]]:
    async def handle(event: Any) -> None:
        if app.group is None:
            _apply(app, use_case, event)
            return
        with app.group.unit() as unit:
            _apply(app, use_case, event)
        # Acknowledged once the ledger entry (or the staged one it found already applied) is
        # committed, with its group.
        await unit.committed()

    return handle


def _apply(app: Billing, use_case: Callable[[Any], None], event: Any) -> None:
    try:
        use_case(event)
    except NotReady:
        raise  # raised before anything changed
    except LedgerError as exc:
        app.forget(event.tenant_id)
        raise Rejected(str(exc)) from exc
    except Exception:
        app.forget(event.tenant_id)  # the cached ledger may hold a half-applied command
        raise


def subscriptions(app: Billing) -> list[Subscription]:
    table: list[tuple[str, Callable[[Any], None]]] = [
        (subjects.RUN_REQUESTED, app.admit),
        (subjects.USAGE_RECORDED, app.meter),
        (subjects.RUN_COMPLETED, app.close_run),
        (subjects.RUN_FAILED, app.close_run),
        (subjects.RUN_CANCELLED, app.close_run),
        (subjects.RUN_EXPIRED, app.close_run),
        (subjects.RUN_REJECTED, app.close_run),
        (subjects.QUESTION_ASKED, app.ask_question),
        (subjects.QUESTION_ANSWERED, app.close_question),
        (subjects.QUESTION_FAILED, app.close_question),
    ]
    return [Subscription(subject, consumers.durable("billing", subject), _guarded(app, fn)) for subject, fn in table]
