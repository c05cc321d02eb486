"""Bus subscribers: contract in -> application call. Durable names are per service and subject."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from contracts import subjects
from contracts.credits import CreditsDenied, CreditsReserved
from contracts.run import RunRequested
from contracts.task import TaskFailed, TaskSucceeded
from contracts.tool import ToolDecided
from quarry_runtime.bus import Subscription
from quarry_runtime.errors import Rejected
from services.orchestrator.application import Orchestrator
from services.orchestrator.domain import RunError


def _guarded(use_case: Callable[[Any], None]) -> Callable[[Any], Awaitable[None]]:
    async def handle(event: Any) -> None:
        try:
            use_case(event)
        except RunError as exc:
            raise Rejected(str(exc)) from exc

    return handle


def subscriptions(app: Orchestrator) -> list[Subscription]:
    """What the orchestrator consumes, and which use case each goes to."""

    def on_requested(ev: RunRequested) -> None:
        app.start_run(ev)

    def on_reserved(ev: CreditsReserved) -> None:
        app.admit_run(ev)

    def on_denied(ev: CreditsDenied) -> None:
        app.reject_run(ev)

    def on_decided(ev: ToolDecided) -> None:
        app.apply_decision(ev)

    def on_finished(ev: TaskSucceeded | TaskFailed) -> None:
        app.finish_task(ev)

    table: list[tuple[str, Callable[[Any], None]]] = [
        (subjects.RUN_REQUESTED, on_requested),
        (subjects.CREDITS_RESERVED, on_reserved),
        (subjects.CREDITS_DENIED, on_denied),
        (subjects.TOOL_DECIDED, on_decided),
        (subjects.TASK_SUCCEEDED, on_finished),
        (subjects.TASK_FAILED, on_finished),
    ]
    return [Subscription(subject, f"orchestrator-{subject.replace('.', '-')}", _guarded(fn)) for subject, fn in table]
