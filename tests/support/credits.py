"""Contract events for billing's tests, and billing on in-memory storage at a clock of the
test's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from contracts.envelope import Actor
from contracts.ids import new_id
from contracts.question import (
    QuestionAnswered,
    QuestionAnsweredPayload,
    QuestionAsked,
    QuestionAskedPayload,
    QuestionFailed,
    QuestionFailedPayload,
)
from contracts.run import RunCompleted, RunCompletedPayload, RunFailed, RunRequested, RunRequestedPayload
from contracts.usage import UsageRecorded, UsageRecordedPayload
from services.billing.application import Billing
from services.billing.plans import PLANS
from services.billing.webhooks import apply_stripe_event

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
FREE = PLANS["free"].monthly_credits


def request(tenant: str = "t1", depth: int = 1, max_sources: int = 5) -> RunRequested:
    return RunRequested.create(
        RunRequestedPayload(question="what is x?", depth=depth, max_sources=max_sources),
        tenant_id=tenant,
        run_id=new_id(),
    )


def usage(req: RunRequested, n: int, search_calls: int = 1) -> UsageRecorded:
    payload = UsageRecordedPayload(task_id=f"task-{n}", kind="search", tool="web_search", search_calls=search_calls)
    return UsageRecorded.caused_by(req, payload, name=f"usage:{n}")


def completed(req: RunRequested, usages: list[UsageRecorded]) -> RunCompleted:
    payload = RunCompletedPayload(usage_event_ids=[u.event_id for u in usages], sources=3)
    return RunCompleted.caused_by(req, payload)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def billing_at(at: datetime) -> tuple[Billing, Clock]:
    app = Billing(env=POPO)
    clock = Clock(at)
    app.clock = clock
    return app, clock


def run_to_completion(app: Billing, tenant: str, searches: int, tool: str = "web_search") -> RunRequested:
    req = request(tenant)
    app.admit(req)
    uses = [
        UsageRecorded.caused_by(
            req, UsageRecordedPayload(task_id=f"t{i}", kind="search", tool=tool, search_calls=1), name=f"u{i}"
        )
        for i in range(searches)
    ]
    for u in uses:
        app.meter(u)
    app.close_run(completed(req, uses))
    return req


def stripe_event(event_id: str, kind: str, obj: dict[str, Any], created: int = 1_700_000_000) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "created": created, "data": {"object": obj}}


def asked(run: RunRequested, tenant: str = "t1") -> QuestionAsked:
    question_id = new_id()
    payload = QuestionAskedPayload(question_id=question_id, run_id=run.run_id or "", text="and then?")
    return QuestionAsked.create(payload, tenant_id=tenant, run_id=question_id, actor=Actor(user_id="u1"))


def question_usage(q: QuestionAsked, n: int, tokens: int = 0, searches: int = 0) -> UsageRecorded:
    tool, kind = ("answer_question", "answer") if tokens else ("recall_memory", "recall")
    payload = UsageRecordedPayload(task_id=f"{kind}-{n}", kind=kind, tool=tool, tokens_in=tokens, search_calls=searches)
    return UsageRecorded.caused_by(q, payload, name=f"qusage:{n}")


def answered(q: QuestionAsked, uses: list[UsageRecorded]) -> QuestionAnswered:
    payload = QuestionAnsweredPayload(
        question_id=q.payload.question_id,
        run_id=q.payload.run_id,
        answer="x [1]",
        citations=[],
        usage_event_ids=[u.event_id for u in uses],
    )
    return QuestionAnswered.caused_by(q, payload)


def question_failed(q: QuestionAsked) -> QuestionFailed:
    payload = QuestionFailedPayload(question_id=q.payload.question_id, run_id=q.payload.run_id, reason="timed out")
    return QuestionFailed.caused_by(q, payload)


def deliver_to(app: Billing, ev: object) -> None:
    """Hand `ev` to billing's use case for it, as its bus handlers do; a Stripe event is a dict.
    Billing consumes nothing else: any other event goes by."""
    if isinstance(ev, dict):
        apply_stripe_event(app, ev)
        return
    use_cases: dict[type, Callable[[Any], None]] = {
        RunRequested: app.admit,
        UsageRecorded: app.meter,
        RunCompleted: app.close_run,
        RunFailed: app.close_run,
        QuestionAsked: app.ask_question,
        QuestionAnswered: app.close_question,
        QuestionFailed: app.close_question,
    }
    use_case = use_cases.get(type(ev))
    if use_case is not None:
        use_case(ev)
