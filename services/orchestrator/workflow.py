"""The run's task DAG: plan -> one search per sub-question -> synthesise -> report.

`advance` looks at what the run has finished and requests what may start next; it is called
after every change, so a resumed orchestrator continues exactly where the log stops.
"""

from __future__ import annotations

from contracts.ids import derived_id
from contracts.work import Draft, PlanInput, ReportInput, SearchInput, SearchOutput, SynthesiseInput
from services.orchestrator.domain import Run

PASSAGES_PER_SEARCH = 8


def task_id(run: Run, kind: str, index: int) -> str:
    """Task ids are derived from the run, so a replayed decision names the same task."""
    return derived_id(run.run_id, f"task:{kind}:{index}")


def advance(run: Run) -> None:
    """Request the next tasks the DAG allows, or end the run."""
    if run.is_terminal or run.state == "requested":
        return
    for task in run.tasks.values():
        if task.status in ("failed", "denied"):
            verb = "denied by policy" if task.status == "denied" else "failed"
            run.fail(f"{task.kind} {verb}: {task.reason}", step=task.kind)
            return

    plans = run.tasks_of("plan")
    if not plans:
        run.request_task(
            task_id(run, "plan", 0), "plan", PlanInput(question=run.question, depth=run.depth).model_dump()
        )
        return
    if not _all_done(plans):
        return

    searches = run.tasks_of("search")
    if not searches:
        for i, sub_question in enumerate(run.sub_questions):
            search = SearchInput(question=run.question, sub_question=sub_question, limit=PASSAGES_PER_SEARCH)
            run.request_task(task_id(run, "search", i), "search", search.model_dump())
        return
    if not _all_done(searches):
        return

    syntheses = run.tasks_of("synthesise")
    if not syntheses:
        findings = [SearchOutput.model_validate(t.output) for t in searches]
        synthesis = SynthesiseInput(
            question=run.question, sub_questions=run.sub_questions, findings=findings, max_sources=run.max_sources
        )
        if not any(f.passages for f in findings):
            run.fail("no source in the corpus matches the question", step="search")
            return
        run.request_task(task_id(run, "synthesise", 0), "synthesise", synthesis.model_dump())
        return
    if not _all_done(syntheses):
        return

    reports = run.tasks_of("report")
    if not reports:
        draft = Draft.model_validate(syntheses[0].output["draft"] if syntheses[0].output else {})
        if not draft.summary and not draft.sections:
            run.fail("the sources found support no answer to the question", step="synthesise")
            return
        run.request_task(task_id(run, "report", 0), "report", ReportInput(run_id=run.run_id, draft=draft).model_dump())
        return
    if not _all_done(reports):
        return
    run.complete()


def _all_done(tasks: list) -> bool:  # type: ignore[type-arg]
    return all(t.status == "succeeded" for t in tasks)
