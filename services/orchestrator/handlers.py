"""Bus subscribers: contract in -> application call. Durable names are in contracts.consumers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts import consumers, subjects
from contracts.question import is_question_event
from quarry_runtime.bus import Subscription
from quarry_runtime.eventsourced import use_case_handler
from services.orchestrator.application import Orchestrator
from services.orchestrator.errors import OrchestratorError

# What the bus dead-letters (with the reason) instead of redelivering.
REJECTED: tuple[type[Exception], ...] = (OrchestratorError,)


def _by_saga(question_case: Callable[[Any], None], run_case: Callable[[Any], None]) -> Callable[[Any], None]:
    """Tool, task, timer and credits events of a question's saga go to the question, all others to their run."""

    def route(event: Any) -> None:
        (question_case if is_question_event(event) else run_case)(event)

    return route


def subscriptions(app: Orchestrator) -> list[Subscription]:
    """What the orchestrator consumes, and which use case each goes to."""
    use_cases: dict[str, Callable[[Any], None]] = {
        subjects.RUN_REQUESTED: app.start_run,
        subjects.CREDITS_RESERVED: _by_saga(app.admit_question, app.admit_run),
        subjects.CREDITS_DENIED: _by_saga(app.refuse_question, app.reject_run),
        # A run's settled credits are its cost on the rollouts it took part in (a question's are ignored).
        subjects.CREDITS_SETTLED: app.record_run_cost,
        subjects.TOOL_DECIDED: _by_saga(app.decide_question_tool, app.apply_decision),
        subjects.TASK_SUCCEEDED: _by_saga(app.finish_question_task, app.finish_task),
        subjects.TASK_FAILED: _by_saga(app.finish_question_task, app.finish_task),
        subjects.TIMER_FIRED: _by_saga(app.time_out_question_task, app.fire_timer),
        subjects.RUN_CANCEL_REQUESTED: app.cancel_run,
        subjects.APPROVAL_GIVEN: app.decide_approval,
        subjects.APPROVAL_REJECTED: app.decide_approval,
        subjects.RUN_PLAN_REVIEWED: app.review_plan,
        subjects.MONITOR_CREATED: app.create_monitor,
        subjects.MONITOR_CHANGED: app.change_monitor,
        subjects.QUESTION_ASKED: app.ask_question,
    }
    return [
        Subscription(subject, consumers.durable("orchestrator", subject), use_case_handler(app, fn, rejected=REJECTED))
        for subject, fn in use_cases.items()
    ]
