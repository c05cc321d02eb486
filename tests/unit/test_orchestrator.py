"""The Run aggregate and the orchestrator's use cases, on in-memory storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.approval import ApprovalGiven, ApprovalPayload, ApprovalRejected
from contracts.credits import CreditsDenied, CreditsDeniedPayload, CreditsReserved, CreditsReservedPayload
from contracts.envelope import Actor
from contracts.ids import new_id
from contracts.report import Artifact
from contracts.run import RunCancelRequested, RunCancelRequestedPayload, RunFailed, RunRequested, RunRequestedPayload
from contracts.task import TaskFailed, TaskFailedPayload, TaskSucceeded, TaskSucceededPayload
from contracts.timer import TimerFired, TimerFiredPayload
from contracts.tool import ToolDecided, ToolDecidedPayload
from contracts.work import (
    Claim,
    CollectOutput,
    Draft,
    FetchOutput,
    IndexOutput,
    Passage,
    PlanOutput,
    ReadOutput,
    ReportOutput,
    SearchOutput,
    SourceRef,
    SynthesiseOutput,
    VerifyOutput,
    WebCandidate,
)
from quarry_runtime.errors import NotReady
from services.orchestrator.application import Orchestrator
from services.orchestrator.runs.domain import MAX_THROTTLE_WAIT_S, MAX_THROTTLES, TRANSITIONS, Run, RunError
from services.orchestrator.runs.translate import translate
from services.orchestrator.runs.workflow import task_input
from services.orchestrator.tasks import POLICIES, QUEUE_ALLOWANCE_S

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> Orchestrator:
    orchestrator = Orchestrator(env=POPO)
    orchestrator.clock = clock
    return orchestrator


def requested(approval: bool = False, timeout_s: int = 3600, sources: list[str] | None = None) -> RunRequested:
    return RunRequested.create(
        RunRequestedPayload(
            question="what is a context manager",
            depth=1,
            max_sources=5,
            approval_required=approval,
            approval_timeout_s=timeout_s,
            sources=sources,  # type: ignore[arg-type]
        ),
        tenant_id="tenant-a",
        run_id=new_id(),
        actor=Actor(user_id="u1", roles=["owner"]),
    )


def reserved(req: RunRequested, plan: str = "free") -> CreditsReserved:
    return CreditsReserved.caused_by(req, CreditsReservedPayload(amount=40, balance=460, plan=plan))


def decide(run: Run, task_id: str, decision: str = "allow", approval_timeout_s: int | None = None) -> ToolDecided:
    task = run.tasks[task_id]
    payload = ToolDecidedPayload(
        approval_timeout_s=approval_timeout_s,
        request_id=f"{task_id}:1",
        task_id=task_id,
        tool=task.tool,
        decision=decision,  # type: ignore[arg-type]
        reasons=["because"],
        policy_ids=["p1"],
        policy_version="v1",
        evaluation_ms=0.1,
    )
    return ToolDecided.create(payload, tenant_id=run.tenant_id, run_id=run.run_id)


def succeed(run: Run, task_id: str, output: dict[str, Any]) -> TaskSucceeded:
    task = run.tasks[task_id]
    payload = TaskSucceededPayload(
        task_id=task_id,
        kind=task.kind,
        attempt=task.attempt,
        output=output,
        usage_event_ids=[f"u-{task_id}"],  # type: ignore[arg-type]
    )
    return TaskSucceeded.create(payload, tenant_id=run.tenant_id, run_id=run.run_id)


def fail(run: Run, task_id: str, retryable: bool = True) -> TaskFailed:
    task = run.tasks[task_id]
    payload = TaskFailedPayload(
        task_id=task_id, kind=task.kind, attempt=task.attempt, reason="boom", retryable=retryable
    )  # type: ignore[arg-type]
    return TaskFailed.create(payload, tenant_id=run.tenant_id, run_id=run.run_id)


def timer(run: Run, purpose: str, task_id: str | None = None, approval_id: str | None = None) -> TimerFired:
    attempt = run.tasks[task_id].attempt if task_id else None
    payload = TimerFiredPayload(
        timer_id=new_id(), purpose=purpose, task_id=task_id, attempt=attempt, approval_id=approval_id
    )  # type: ignore[arg-type]
    return TimerFired.create(payload, tenant_id=run.tenant_id, run_id=run.run_id)


def with_status(app: Orchestrator, run_id: str, status: str) -> list[str]:
    return [t.task_id for t in app.get_run(run_id).tasks.values() if t.status == status]


PASSAGE = Passage(source_id="doc1", title="Doc", location="§1", text="A context manager sets up and tears down.")
WEB_PAGE = "https://docs.python.org/3/library/contextlib.html"
UPLOAD = Passage(source_id="upload1", title="Our notes", location="§2", text="We use context managers for locks.")
DRAFT = Draft(
    title="Context managers",
    question="what is a context manager",
    summary=[Claim(text="A context manager sets up and tears down.", citations=[1])],
    sections=[],
    sources=[SourceRef(number=1, source_id="doc1", title="Doc", location="§1", passage=PASSAGE.text)],
)
ART = Artifact(path="/x/report.md", sha256="0" * 64, media_type="text/markdown", size=10)


def outputs_for(kind: str, task_input: dict[str, Any]) -> dict[str, Any]:
    if kind == "plan":
        return PlanOutput(sub_questions=["What is a context manager?", "How is it used?"]).model_dump()
    if kind == "search":
        # A search of the web offers a page (an allow-listed one), which the run then fetches.
        offered = [WebCandidate(url=WEB_PAGE, title="contextlib")] if "web" in (task_input.get("sources") or []) else []
        return SearchOutput(
            sub_question=task_input["sub_question"], passages=[PASSAGE], candidates=offered
        ).model_dump()
    if kind == "fetch":
        page = Passage(source_id=WEB_PAGE, title="contextlib", location="§1", text="with calls __enter__.")
        found = [SearchOutput(sub_question=w["sub_question"], passages=[page]) for w in task_input["wanted"]]
        return FetchOutput(findings=found).model_dump()
    if kind == "read":
        findings = [SearchOutput(sub_question=q, passages=[UPLOAD]) for q in task_input["sub_questions"]]
        return ReadOutput(findings=findings).model_dump()
    if kind == "collect":
        return CollectOutput(findings=task_input["findings"], passages=1, duplicates_dropped=1).model_dump()
    if kind == "synthesise":
        return SynthesiseOutput(draft=DRAFT).model_dump()
    if kind == "verify":
        return VerifyOutput(checked=1, supported=1, support_rate=1.0).model_dump()
    if kind == "index":
        return IndexOutput(chunks=2).model_dump()
    return ReportOutput(
        title="t", markdown=ART, pdf=ART.model_copy(update={"media_type": "application/pdf"})
    ).model_dump()


def work(app: Orchestrator, run_id: str, rounds: int = 30, stop_at: str | None = None) -> None:
    """Play policy and the workers until the run ends (or reaches `stop_at`)."""
    for _ in range(rounds):
        run = app.get_run(run_id)
        if run.is_terminal or run.state == stop_at or run.state == "waiting_approval":
            return
        for task_id in with_status(app, run_id, "requested"):
            app.apply_decision(decide(app.get_run(run_id), task_id))
        for task_id in with_status(app, run_id, "dispatched"):
            run = app.get_run(run_id)
            task = run.tasks[task_id]
            # What the worker receives: the input built from the run's state at dispatch.
            app.finish_task(succeed(run, task_id, outputs_for(task.kind, task_input(run, task))))


def started(
    app: Orchestrator,
    approval: bool = False,
    timeout_s: int = 3600,
    sources: list[str] | None = None,
    plan: str = "free",
) -> str:
    req = requested(approval, timeout_s, sources)
    app.start_run(req)
    app.admit_run(reserved(req, plan))
    return req.run_id or ""


def test_a_run_walks_the_whole_dag_and_completes(app: Orchestrator) -> None:
    run_id = started(app)
    assert app.get_run(run_id).state == "planning"
    work(app, run_id)
    run = app.get_run(run_id)
    assert run.state == "completed"
    assert [t.kind for t in run.tasks.values()] == [
        "plan",
        "search",
        "search",
        "read",  # the default sources include the tenant's datasets: read under read_dataset
        "collect",
        "synthesise",
        "verify",
        "index",
        "report",
    ]
    assert [t.tool for t in run.tasks_of("search") + run.tasks_of("read")] == ["web_search"] * 2 + ["read_dataset"]
    assert len(run.usage_event_ids()) == 9
    assert all(t.attempt == 1 for t in run.tasks.values())


def test_redelivered_events_change_nothing(app: Orchestrator) -> None:
    req = requested()
    app.start_run(req)
    app.start_run(req)
    res = reserved(req)
    app.admit_run(res)
    version = app.get_run(req.run_id or "").version
    app.admit_run(res)
    plan_id = with_status(app, req.run_id or "", "requested")[0]
    decision = decide(app.get_run(req.run_id or ""), plan_id)
    app.apply_decision(decision)
    after_decision = app.get_run(req.run_id or "").version
    app.apply_decision(decision)
    assert app.get_run(req.run_id or "").version == after_decision > version
    done = succeed(app.get_run(req.run_id or ""), plan_id, outputs_for("plan", {}))
    app.finish_task(done)
    after_result = app.get_run(req.run_id or "").version
    app.finish_task(done)
    assert app.get_run(req.run_id or "").version == after_result


def test_policy_deny_fails_the_run_with_the_reason(app: Orchestrator) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id, decision="deny"))
    run = app.get_run(run_id)
    assert run.state == "failed"
    assert "denied by policy" in (run.failure or "") and "because" in (run.failure or "")


def _rate_limited(run: Run, task_id: str, wait_s: float = 12.5) -> ToolDecided:
    decided = decide(run, task_id, decision="deny")
    payload = decided.payload.model_copy(
        update={"reasons": ["rate limit: plan allows 1 call per 60s"], "policy_ids": [], "retry_after_s": wait_s}
    )
    return decided.model_copy(update={"payload": payload, "event_id": new_id()})


def _published(app: Orchestrator) -> list[Any]:
    notifications = app.recorder.select_notifications(start=1, limit=10_000)
    return [
        o
        for n in notifications
        for o in translate(app.mapper.to_domain_event(n), lambda i, v: app.repository.get(i, version=v))
    ]


def test_a_rate_limited_tool_is_asked_for_again_after_the_wait_policy_names(app: Orchestrator, clock: Clock) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(_rate_limited(app.get_run(run_id), plan_id))
    run = app.get_run(run_id)
    task = run.tasks[plan_id]
    assert (run.state, task.status, task.throttles) == ("planning", "requested", 1), "held back, not failed"
    (retry,) = [o for o in _published(app) if o.at is not None and o.event.payload.purpose == "tool_retry"]
    assert retry.at == clock.now + timedelta(seconds=12.5) and retry.event.payload.attempt == 1
    clock.now += timedelta(seconds=13)
    app.fire_timer(retry.event)
    app.fire_timer(retry.event)  # redelivered: asked again once
    requests = [o.event.payload.request_id for o in _published(app) if o.event.type == "tool.requested"]
    assert requests[:2] == [f"{plan_id}:1", f"{plan_id}:2"] and requests.count(f"{plan_id}:2") == 1
    app.apply_decision(decide(app.get_run(run_id), plan_id))
    assert app.get_run(run_id).tasks[plan_id].status == "dispatched"


def test_a_tool_held_back_too_often_or_too_long_is_a_denial(app: Orchestrator) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    for n in range(1, MAX_THROTTLES + 1):
        app.apply_decision(_rate_limited(app.get_run(run_id), plan_id))
        retry = [o for o in _published(app) if o.at is not None and o.event.payload.attempt == n][-1]
        app.fire_timer(retry.event)
    app.apply_decision(_rate_limited(app.get_run(run_id), plan_id))
    run = app.get_run(run_id)
    assert run.state == "failed" and "rate limit" in (run.failure or "")

    other = started(app)
    task_id = with_status(app, other, "requested")[0]
    app.apply_decision(_rate_limited(app.get_run(other), task_id, wait_s=MAX_THROTTLE_WAIT_S + 1))
    assert app.get_run(other).state == "failed"


def test_a_failed_attempt_is_retried_after_a_backoff_then_succeeds(app: Orchestrator, clock: Clock) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id))
    app.finish_task(fail(app.get_run(run_id), plan_id))
    task = app.get_run(run_id).tasks[plan_id]
    assert task.status == "retrying" and task.errors == ["attempt 1: boom"]
    clock.now += timedelta(seconds=1)
    app.fire_timer(timer(app.get_run(run_id), "task_retry", plan_id))
    task = app.get_run(run_id).tasks[plan_id]
    assert task.status == "dispatched" and task.attempt == 2
    work(app, run_id)
    assert app.get_run(run_id).state == "completed"


def test_a_task_that_exhausts_its_attempts_fails_the_run(app: Orchestrator) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id))
    for _ in range(3):
        app.finish_task(succeed(app.get_run(run_id), plan_id, {"sub_questions": []}))  # fails its output check
        if app.get_run(run_id).tasks[plan_id].status == "retrying":
            app.fire_timer(timer(app.get_run(run_id), "task_retry", plan_id))
    run = app.get_run(run_id)
    assert run.state == "failed"
    assert "output failed its check" in (run.failure or "") and "after 3 attempts" in (run.failure or "")


def test_a_timer_fired_twice_changes_the_run_once(app: Orchestrator, clock: Clock) -> None:
    """A re-armed schedule (quarry_runtime.timersweep) can fire after its original did: the same
    TimerFired, by event id, which the run has seen."""
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id))
    timeout = timer(app.get_run(run_id), "task_timeout", plan_id)
    app.fire_timer(timeout)
    version = app.get_run(run_id).version
    app.fire_timer(timeout)
    assert app.get_run(run_id).version == version
    task = app.get_run(run_id).tasks[plan_id]
    assert task.status == "retrying" and len(task.errors) == 1
    clock.now += timedelta(seconds=1)
    retry = timer(app.get_run(run_id), "task_retry", plan_id)
    app.fire_timer(retry)
    version = app.get_run(run_id).version
    app.fire_timer(retry)
    assert app.get_run(run_id).version == version and app.get_run(run_id).tasks[plan_id].attempt == 2


def test_a_non_retryable_failure_fails_at_once(app: Orchestrator) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id))
    app.finish_task(fail(app.get_run(run_id), plan_id, retryable=False))
    assert app.get_run(run_id).state == "failed"


def test_a_task_that_does_not_answer_in_time_is_dispatched_again(app: Orchestrator) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id))
    stale = timer(app.get_run(run_id), "task_timeout", plan_id)
    app.fire_timer(stale)
    assert app.get_run(run_id).tasks[plan_id].status == "retrying"
    app.fire_timer(timer(app.get_run(run_id), "task_retry", plan_id))
    assert app.get_run(run_id).tasks[plan_id].attempt == 2
    # The old attempt's timer again, or its late failure, changes nothing now.
    version = app.get_run(run_id).version
    app.fire_timer(stale)
    late = TaskFailedPayload(task_id=plan_id, kind="plan", attempt=1, reason="late", retryable=True)
    app.finish_task(TaskFailed.create(late, tenant_id="tenant-a", run_id=run_id))
    assert app.get_run(run_id).version == version
    work(app, run_id)
    assert app.get_run(run_id).state == "completed"


def test_a_dispatched_task_may_wait_its_turn_in_the_lane_before_its_own_time_counts(
    app: Orchestrator, clock: Clock
) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id))
    (dispatch,) = [o.event for o in _published(app) if o.event.type == "task.dispatched"]
    (timeout,) = [o for o in _published(app) if o.at is not None and o.event.payload.purpose == "task_timeout"]
    # The worker bounds the task's run by `timeout_s` from when it starts it; the orchestrator
    # waits for the answer that long plus the time the task may queue behind others.
    assert dispatch.payload.timeout_s == POLICIES["plan"].timeout_s
    assert timeout.at == clock.now + timedelta(seconds=QUEUE_ALLOWANCE_S + POLICIES["plan"].timeout_s)
    app.fire_timer(timeout.event)
    assert (
        app.get_run(run_id)
        .tasks[plan_id]
        .errors[-1]
        .endswith(f"no answer within {QUEUE_ALLOWANCE_S + POLICIES['plan'].timeout_s:.0f}s of its dispatch")
    )


def test_cancel_waits_for_the_step_in_flight_then_stops(app: Orchestrator) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id))
    cancel = RunCancelRequested.create(RunCancelRequestedPayload(), tenant_id="tenant-a", run_id=run_id)
    app.cancel_run(cancel)
    assert app.get_run(run_id).state == "planning"  # the plan is still running
    run = app.get_run(run_id)
    app.finish_task(succeed(run, plan_id, outputs_for("plan", {})))
    run = app.get_run(run_id)
    assert run.state == "cancelled"
    assert [t.kind for t in run.tasks.values()] == ["plan"]  # nothing new started
    assert run.usage_event_ids() == [f"u-{plan_id}"]


def test_the_approval_gate_parks_the_run_until_approved(app: Orchestrator) -> None:
    run_id = started(app, approval=True)
    work(app, run_id)
    run = app.get_run(run_id)
    assert run.state == "waiting_approval"
    assert [t.kind for t in run.tasks.values()][-1] == "verify"
    pending = run.pending_approval()
    assert pending is not None and pending.subject == "publish"
    assert pending.deadline == T0 + timedelta(seconds=3600)
    given = ApprovalGiven.create(
        ApprovalPayload(comment="looks right"), tenant_id="tenant-a", run_id=run_id, actor=Actor(user_id="boss")
    )
    app.decide_approval(given)
    run = app.get_run(run_id)
    assert run.state == "indexing"
    approval = run.approvals[pending.approval_id]
    assert (approval.status, approval.decided_by, approval.comment) == ("approved", "boss", "looks right")
    work(app, run_id)
    assert app.get_run(run_id).state == "completed"


def test_a_refused_approval_rejects_the_run(app: Orchestrator) -> None:
    run_id = started(app, approval=True)
    work(app, run_id)
    refused = ApprovalRejected.create(
        ApprovalPayload(comment="not good enough"), tenant_id="tenant-a", run_id=run_id, actor=Actor(user_id="boss")
    )
    app.decide_approval(refused)
    run = app.get_run(run_id)
    assert run.state == "rejected"
    assert run.failure == "approval refused by boss: not good enough"


def test_an_approval_deadline_expires_the_run(app: Orchestrator, clock: Clock) -> None:
    run_id = started(app, approval=True, timeout_s=60)
    work(app, run_id)
    pending = app.get_run(run_id).pending_approval()
    assert pending is not None
    clock.now = pending.deadline
    app.fire_timer(timer(app.get_run(run_id), "approval_deadline", approval_id=pending.approval_id))
    assert app.get_run(run_id).state == "expired"


def test_policy_can_require_approval_for_one_tool_use(app: Orchestrator) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id, decision="require_approval", approval_timeout_s=600))
    run = app.get_run(run_id)
    assert run.state == "waiting_approval"
    pending = run.pending_approval()
    assert pending is not None and pending.subject == f"task:{plan_id}"
    assert pending.deadline == T0 + timedelta(seconds=600)  # the rule's timeout, not the run's hour
    app.decide_approval(
        ApprovalGiven.create(ApprovalPayload(approval_id=pending.approval_id), tenant_id="tenant-a", run_id=run_id)
    )
    run = app.get_run(run_id)
    assert run.state == "planning" and run.tasks[plan_id].status == "dispatched"


def test_denied_credits_reject_the_run(app: Orchestrator) -> None:
    req = requested()
    app.start_run(req)
    app.reject_run(CreditsDenied.caused_by(req, CreditsDeniedPayload(required=50, balance=3, reason="short")))
    run = app.get_run(req.run_id or "")
    assert run.state == "rejected" and not run.tasks


def test_events_for_an_unknown_run_wait_rather_than_fail(app: Orchestrator) -> None:
    with pytest.raises(NotReady):
        app.admit_run(reserved(requested()))


def test_illegal_transitions_are_refused_and_record_nothing() -> None:
    run = Run(run_id=new_id(), tenant_id="t", user_id=None, roles=[], question="q?", depth=1, max_sources=1, cause="c")
    run.reject("no", cause="d")
    version = run.version
    with pytest.raises(RunError):
        run.admit(10, "free", cause="e")
    with pytest.raises(RunError):
        run.complete()
    with pytest.raises(RunError):
        run.request_cancel("late", cause="f")
    assert run.version == version
    assert all(not TRANSITIONS[s] for s in ("completed", "failed", "rejected", "cancelled", "expired"))


def test_translation_publishes_the_saga_with_stable_ids_and_timers(app: Orchestrator) -> None:
    run_id = started(app)
    work(app, run_id)

    def run_at(originator_id: Any, version: int) -> Run:
        found: Run = app.repository.get(originator_id, version=version)
        return found

    notifications = app.recorder.select_notifications(start=1, limit=1000)
    published = [o for n in notifications for o in translate(app.mapper.to_domain_event(n), run_at)]
    events = [o for o in published if o.at is None]
    timers = [o for o in published if o.at is not None]
    subjects = [o.subject for o in events]
    assert subjects[0] == "run.v1.admitted"
    assert "task.v1.dispatched.analyst" in subjects and "task.v1.dispatched.retriever" in subjects
    assert subjects[-1] == "run.v1.completed"
    assert events[-1].event.payload.usage_event_ids == app.get_run(run_id).usage_event_ids()
    assert len(timers) == 9 and {t.event.payload.purpose for t in timers} == {"task_timeout"}
    again = [o for n in notifications for o in translate(app.mapper.to_domain_event(n), run_at)]
    assert [o.event.event_id for o in again] == [o.event.event_id for o in published]
    assert len({o.event.event_id for o in published}) == len(published)
    ordered = [o.event.event_id for o in events]
    assert ordered == sorted(ordered), "one run's events sort in the order they happened"


def test_a_finished_run_keeps_only_what_is_still_needed_and_is_read_from_a_snapshot(app: Orchestrator) -> None:
    run_id = started(app)
    work(app, run_id)
    run = app.get_run(run_id)
    assert run.state == "completed"
    assert all(t.output is None for t in run.tasks_of("search") + run.tasks_of("collect"))
    assert run.tasks_of("synthesise")[0].output is not None  # the final draft stays
    snapshots = list(app.snapshots.get(run.id)) if app.snapshots else []
    assert snapshots and snapshots[-1].originator_version == run.version
    dispatched = [
        o.event
        for n in app.recorder.select_notifications(start=1, limit=1000)
        for o in translate(app.mapper.to_domain_event(n), lambda i, v: app.repository.get(i, version=v))
        if o.subject == "task.v1.dispatched.analyst" and o.event.payload.kind == "synthesise"
    ]
    assert dispatched[0].payload.input["findings"], "the synthesis input is rebuilt from the searches at dispatch"


# -- whose fault a failed run was (billing charges the tenant's, refunds the platform's) ----


def failed_event(app: Orchestrator) -> RunFailed:
    ends = [o.event for o in _published(app) if isinstance(o.event, RunFailed)]
    assert len(ends) == 1, ends
    return ends[0]


def test_a_tool_denied_by_policy_is_the_tenants_fault(app: Orchestrator) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id, decision="deny"))
    assert app.get_run(run_id).state == "failed"
    assert failed_event(app).payload.fault == "tenant"


def test_a_failure_of_the_tenants_own_model_endpoint_is_the_tenants_fault(app: Orchestrator) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id))
    failure = fail(app.get_run(run_id), plan_id, retryable=False)
    payload = failure.payload.model_copy(update={"fault": "tenant", "reason": "the tenant's model endpoint is down"})
    app.finish_task(TaskFailed.model_validate(failure.model_copy(update={"payload": payload}).model_dump()))
    assert app.get_run(run_id).state == "failed"
    assert failed_event(app).payload.fault == "tenant"


def test_retries_exhausted_on_the_platforms_side_are_the_platforms_fault(app: Orchestrator) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id))
    for _ in range(3):
        app.finish_task(succeed(app.get_run(run_id), plan_id, {"sub_questions": []}))  # fails its output check
        if app.get_run(run_id).tasks[plan_id].status == "retrying":
            app.fire_timer(timer(app.get_run(run_id), "task_retry", plan_id))
    assert app.get_run(run_id).state == "failed"
    assert failed_event(app).payload.fault == "platform"


def test_a_service_error_is_the_platforms_fault(app: Orchestrator) -> None:
    run_id = started(app)
    plan_id = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan_id))
    app.finish_task(fail(app.get_run(run_id), plan_id, retryable=False))
    assert failed_event(app).payload.fault == "platform"
