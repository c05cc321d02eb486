"""The Run aggregate and the orchestrator's use cases, on in-memory storage."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.credits import CreditsDenied, CreditsDeniedPayload, CreditsReserved, CreditsReservedPayload
from contracts.envelope import Actor
from contracts.ids import new_id
from contracts.report import Artifact
from contracts.run import RunRequested, RunRequestedPayload
from contracts.task import TaskFailed, TaskFailedPayload, TaskSucceeded, TaskSucceededPayload
from contracts.tool import ToolDecided, ToolDecidedPayload
from contracts.work import Claim, Draft, Passage, PlanOutput, ReportOutput, SearchOutput, SourceRef, SynthesiseOutput
from quarry_runtime.errors import NotReady
from services.orchestrator.application import Orchestrator
from services.orchestrator.domain import Run, RunError
from services.orchestrator.translate import translate

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


@pytest.fixture
def app() -> Orchestrator:
    return Orchestrator(env=POPO)


def requested(run_id: str | None = None, question: str = "what is a context manager") -> RunRequested:
    return RunRequested.create(
        RunRequestedPayload(question=question, depth=1, max_sources=5),
        tenant_id="tenant-a",
        run_id=run_id or new_id(),
        actor=Actor(user_id="u1", roles=["owner"]),
    )


def reserved(req: RunRequested) -> CreditsReserved:
    return CreditsReserved.caused_by(req, CreditsReservedPayload(amount=40, balance=460))


def decide(run: Run, task_id: str, decision: str = "allow") -> ToolDecided:
    task = run.tasks[task_id]
    payload = ToolDecidedPayload(
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
    kind = run.tasks[task_id].kind
    payload = TaskSucceededPayload(task_id=task_id, kind=kind, output=output, usage_event_ids=[f"u-{task_id}"])  # type: ignore[arg-type]
    return TaskSucceeded.create(payload, tenant_id=run.tenant_id, run_id=run.run_id)


def pending(app: Orchestrator, run_id: str, status: str = "requested") -> list[str]:
    return [t.task_id for t in app.get_run(run_id).tasks.values() if t.status == status]


PASSAGE = Passage(source_id="doc1", title="Doc", location="§1", text="A context manager sets up and tears down.")
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
        return SearchOutput(sub_question=task_input["sub_question"], passages=[PASSAGE]).model_dump()
    if kind == "synthesise":
        return SynthesiseOutput(draft=DRAFT).model_dump()
    return ReportOutput(
        title="t", markdown=ART, pdf=ART.model_copy(update={"media_type": "application/pdf"})
    ).model_dump()


def drive_to_completion(app: Orchestrator, run_id: str) -> None:
    for _ in range(20):
        run = app.get_run(run_id)
        if run.is_terminal:
            return
        for task_id in pending(app, run_id):
            app.apply_decision(decide(app.get_run(run_id), task_id))
        for task_id in pending(app, run_id, "authorised"):
            run = app.get_run(run_id)
            task = run.tasks[task_id]
            app.finish_task(succeed(run, task_id, outputs_for(task.kind, task.input)))


def test_a_run_goes_plan_search_synthesise_report_and_completes(app: Orchestrator) -> None:
    req = requested()
    app.start_run(req)
    app.admit_run(reserved(req))
    run = app.get_run(req.run_id or "")
    assert run.state == "planning"
    drive_to_completion(app, req.run_id or "")
    run = app.get_run(req.run_id or "")
    assert run.state == "completed"
    kinds = [t.kind for t in run.tasks.values()]
    assert kinds == ["plan", "search", "search", "synthesise", "report"]
    assert len(run.usage_event_ids()) == 5


def test_redelivered_events_change_nothing(app: Orchestrator) -> None:
    req = requested()
    app.start_run(req)
    app.start_run(req)
    res = reserved(req)
    app.admit_run(res)
    version = app.get_run(req.run_id or "").version
    app.admit_run(res)
    plan_id = pending(app, req.run_id or "")[0]
    decision = decide(app.get_run(req.run_id or ""), plan_id)
    app.apply_decision(decision)
    after_decision = app.get_run(req.run_id or "").version
    app.apply_decision(decision)
    assert app.get_run(req.run_id or "").version == after_decision > version


def test_policy_deny_fails_the_run_with_the_reason(app: Orchestrator) -> None:
    req = requested()
    app.start_run(req)
    app.admit_run(reserved(req))
    plan_id = pending(app, req.run_id or "")[0]
    app.apply_decision(decide(app.get_run(req.run_id or ""), plan_id, decision="deny"))
    run = app.get_run(req.run_id or "")
    assert run.state == "failed"
    assert "denied by policy" in (run.failure or "") and "because" in (run.failure or "")


def test_a_malformed_output_fails_its_check_and_the_run(app: Orchestrator) -> None:
    req = requested()
    app.start_run(req)
    app.admit_run(reserved(req))
    run = app.get_run(req.run_id or "")
    plan_id = pending(app, run.run_id)[0]
    app.apply_decision(decide(run, plan_id))
    app.finish_task(succeed(app.get_run(run.run_id), plan_id, {"sub_questions": []}))
    run = app.get_run(run.run_id)
    assert run.state == "failed" and "output failed its check" in (run.failure or "")


def test_a_failed_task_fails_the_run(app: Orchestrator) -> None:
    req = requested()
    app.start_run(req)
    app.admit_run(reserved(req))
    run = app.get_run(req.run_id or "")
    plan_id = pending(app, run.run_id)[0]
    app.apply_decision(decide(run, plan_id))
    failed = TaskFailed.create(
        TaskFailedPayload(task_id=plan_id, kind="plan", reason="boom"), tenant_id="tenant-a", run_id=run.run_id
    )
    app.finish_task(failed)
    assert app.get_run(run.run_id).state == "failed"


def test_denied_credits_reject_the_run(app: Orchestrator) -> None:
    req = requested()
    app.start_run(req)
    app.reject_run(CreditsDenied.caused_by(req, CreditsDeniedPayload(required=50, balance=3, reason="short")))
    run = app.get_run(req.run_id or "")
    assert run.state == "rejected" and not run.tasks


def test_events_for_an_unknown_run_wait_rather_than_fail(app: Orchestrator) -> None:
    req = requested()
    with pytest.raises(NotReady):
        app.admit_run(reserved(req))


def test_illegal_transitions_are_refused() -> None:
    run = Run(run_id=new_id(), tenant_id="t", user_id=None, roles=[], question="q?", depth=1, max_sources=1, cause="c")
    run.reject("no", cause="d")
    with pytest.raises(RunError):
        run.admit(10, "free", cause="e")
    with pytest.raises(RunError):
        run.complete()


def test_translation_publishes_the_saga_with_stable_ids(app: Orchestrator) -> None:
    req = requested()
    app.start_run(req)
    app.admit_run(reserved(req))
    drive_to_completion(app, req.run_id or "")

    def run_at(originator_id: Any, version: int) -> Run:
        found: Run = app.repository.get(originator_id, version=version)
        return found

    notifications = app.recorder.select_notifications(start=1, limit=1000)
    published = [t for n in notifications for t in translate(app.mapper.to_domain_event(n), run_at)]
    subjects = [s for _, s in published]
    assert subjects[0] == "run.v1.admitted"
    assert "task.v1.dispatched.analyst" in subjects and "task.v1.dispatched.retriever" in subjects
    assert subjects[-1] == "run.v1.completed"
    completed = published[-1][0]
    assert completed.payload.usage_event_ids == app.get_run(req.run_id or "").usage_event_ids()
    again = [t for n in notifications for t in translate(app.mapper.to_domain_event(n), run_at)]
    assert [e.event_id for e, _ in again] == [e.event_id for e, _ in published]
    assert len({e.event_id for e, _ in published}) == len(published)
