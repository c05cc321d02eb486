"""Bus subscribers: contract in -> application call. Durable names are per service and subject."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from contracts import subjects
from quarry_runtime.bus import Subscription
from quarry_runtime.errors import Rejected
from services.orchestrator.application import Orchestrator
from services.orchestrator.domain import RunError
from services.orchestrator.monitor import MonitorError


def _guarded(app: Orchestrator, use_case: Callable[[Any], None]) -> Callable[[Any], Awaitable[None]]:
    async def handle(event: Any) -> None:
        if app.group is None:
            _apply(use_case, event)
            return
        with app.group.unit() as unit:
            _apply(use_case, event)
        # The message is acknowledged once what it changed is committed, with its group.
        await unit.committed()

    return handle


def _apply(use_case: Callable[[Any], None], event: Any) -> None:
    try:
        use_case(event)
    except (RunError, MonitorError) as exc:
        raise Rejected(str(exc)) from exc


def subscriptions(app: Orchestrator) -> list[Subscription]:
    """What the orchestrator consumes, and which use case each goes to."""
    table: list[tuple[str, Callable[[Any], None]]] = [
        (subjects.RUN_REQUESTED, app.start_run),
        (subjects.CREDITS_RESERVED, app.admit_run),
        (subjects.CREDITS_DENIED, app.reject_run),
        (subjects.TOOL_DECIDED, app.apply_decision),
        (subjects.TASK_SUCCEEDED, app.finish_task),
        (subjects.TASK_FAILED, app.finish_task),
        (subjects.TIMER_FIRED, app.fire_timer),
        (subjects.RUN_CANCEL_REQUESTED, app.cancel_run),
        (subjects.APPROVAL_GIVEN, app.decide_approval),
        (subjects.APPROVAL_REJECTED, app.decide_approval),
        (subjects.MONITOR_CREATED, app.create_monitor),
        (subjects.MONITOR_CHANGED, app.change_monitor),
    ]
    return [
        Subscription(subject, f"orchestrator-{subject.replace('.', '-')}", _guarded(app, fn)) for subject, fn in table
    ]
