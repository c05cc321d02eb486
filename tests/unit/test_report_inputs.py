"""What the orchestrator tells the synthesise and report steps: the run's length, and the methods
section's figures read from the run's log (on in-memory storage)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.run import RunRequestedPayload
from contracts.work import ReportInput, SynthesiseInput
from services.orchestrator.application import Orchestrator
from services.orchestrator.runs.domain import Run
from services.orchestrator.runs.methods import report_methods
from services.orchestrator.runs.workflow import task_input
from tests.support.orchestrator import POPO, admitted, decide, outputs_for, succeed, with_status


def _run(app: Orchestrator, **options: object) -> str:
    payload = {"question": "what is a context manager", "depth": 1, "max_sources": 5, **options}
    return admitted(app, RunRequestedPayload.model_validate(payload))


def _dispatched(app: Orchestrator, run_id: str, kind: str) -> Run:
    """Play policy and the workers until a task of `kind` is dispatched; the run at that moment.

    A task's input is built at dispatch (a finished step's outputs later leave the state)."""
    for _ in range(30):
        run = app.get_run(run_id)
        if any(t.status == "dispatched" for t in run.tasks_of(kind)):
            return run
        for task_id in with_status(app, run_id, "requested"):
            app.apply_decision(decide(app.get_run(run_id), task_id))
        for task_id in with_status(app, run_id, "dispatched"):
            run = app.get_run(run_id)
            if run.tasks[task_id].kind != kind:
                task = run.tasks[task_id]
                app.finish_task(succeed(run, task_id, outputs_for(task.kind, task_input(run, task))))
    raise AssertionError(f"no {kind} task was dispatched")


@pytest.fixture
def app() -> Orchestrator:
    orchestrator = Orchestrator(env=POPO)
    orchestrator.clock = lambda: datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    return orchestrator


def test_the_report_input_carries_the_length_and_the_methods_figures(app: Orchestrator) -> None:
    run_id = _run(app, length="brief", target_words=300, sources=["corpus"])
    run = _dispatched(app, run_id, "synthesise")
    synthesis = SynthesiseInput.model_validate(task_input(run, run.tasks_of("synthesise")[0]))
    run = _dispatched(app, run_id, "report")
    report = ReportInput.model_validate(task_input(run, run.tasks_of("report")[0]))

    assert (synthesis.length, synthesis.target_words) == ("brief", 300)
    assert (report.length, report.target_words) == ("brief", 300)
    methods = report.methods
    assert methods is not None
    # Two sub-questions, each search returned the same one passage of one document.
    assert [(s.sub_question, s.passages, s.sources) for s in methods.searches] == [
        ("What is a context manager?", 1, 1),
        ("How is it used?", 1, 1),
    ]
    assert (methods.passages_retrieved, methods.sources_retrieved, methods.passages_kept) == (2, 1, 1)
    assert (methods.claims_checked, methods.claims_supported, methods.support_rate) == (1, 1, 1.0)
    assert methods.searched == ["corpus"]
    assert (methods.credits_reserved, methods.plan) == (40, run.plan)
    # Every step before the report recorded one usage event: plan, two searches, collect,
    # synthesise, verify, index.
    assert methods.usage_records == 7


def test_a_run_that_asks_nothing_gets_the_standard_length(app: Orchestrator) -> None:
    run = _dispatched(app, _run(app), "report")
    report = ReportInput.model_validate(task_input(run, run.tasks_of("report")[0]))

    assert (report.length, report.target_words) == ("standard", None)
    assert report.methods is not None and report.methods.searched == []


def test_a_word_target_outside_the_bounds_is_refused() -> None:
    with pytest.raises(ValueError, match="target_words"):
        RunRequestedPayload(question="what is x", depth=1, max_sources=3, target_words=5)


def test_the_methods_report_the_support_of_the_draft_as_written(app: Orchestrator) -> None:
    run = _dispatched(app, _run(app), "report")
    [synthesis] = run.tasks_of("synthesise")
    assert synthesis.output is not None
    # The model wrote four cited claims, one of which its passage does not back (cut before the report).
    synthesis.output["citation_check"] = {"checked": 4, "supported": 3, "support_rate": 0.75, "problems": []}
    methods = report_methods(run)
    assert (methods.claims_checked, methods.claims_supported, methods.support_rate) == (4, 3, 0.75)


def test_the_methods_count_the_claims_synthesis_dropped_as_off_the_question(app: Orchestrator) -> None:
    run = _dispatched(app, _run(app), "report")
    [synthesis] = run.tasks_of("synthesise")
    assert synthesis.output is not None
    synthesis.output["off_question"] = 2
    assert report_methods(run).claims_off_question == 2
    # A synthesis from before the check reported nothing: the methods say nothing, not "0 dropped".
    del synthesis.output["off_question"]
    assert report_methods(run).claims_off_question is None
