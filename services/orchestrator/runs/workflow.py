"""The run's task DAG: plan -> one search per sub-question, and one read per dataset searched ->
one fetch per host of the web pages the searches offered -> collect -> synthesise -> verify ->
approval gate -> index memory -> report.

`advance` looks at what the run has finished and requests what may start next; it is called
after every change, so a resumed orchestrator continues exactly where the log stops. It never
starts a task whose inputs are not all in the log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from contracts.ids import derived_id
from contracts.work import (
    ALL_DATASETS,
    Changes,
    CollectInput,
    CollectOutput,
    Draft,
    FetchInput,
    FetchOutput,
    IndexInput,
    PagesWanted,
    Passage,
    PlanInput,
    ReadInput,
    ReadOutput,
    ReportInput,
    SearchInput,
    SearchOutput,
    SynthesiseInput,
    SynthesiseOutput,
    VerifyInput,
)
from quarry_runtime.ranking import interleave
from services.orchestrator.runs.domain import PLAN_REVIEW, Run
from services.orchestrator.runs.methods import report_methods
from services.orchestrator.saga import TaskState
from services.orchestrator.tasks import OPTIONAL

PASSAGES_PER_SEARCH = 10
# Where a run looks when neither it nor its tenant chose (the retriever's default too).
DEFAULT_SOURCES = ("corpus", "datasets")
# Pages of one host fetched under one `fetch_url` decision; more make several batches (and decisions).
MAX_PAGES_PER_FETCH = 20
MAX_SUB_QUESTIONS_PER_READ = 50
PUBLISH_GATE = "publish"
# What a run keeps of the research template the gateway resolved into its request.
TEMPLATE_FIELDS = frozenset({"template_id", "template_version", "template_name", "outline", "tone"})


def task_id(run: Run, kind: str, index: int) -> str:
    """Task ids are derived from the run, so a replayed decision names the same task."""
    return derived_id(run.run_id, f"task:{kind}:{index}")


def advance(run: Run, now: datetime, previous_draft: Callable[[], Draft | None] = lambda: None) -> None:
    """Request the next tasks the DAG allows, or end the run. `previous_draft` gives the
    final draft of the monitor's previous run, for the report's account of what changed."""
    if run.is_terminal or run.state == "requested":
        return
    if run.cancel_reason is not None:
        if not run.in_flight():  # the step boundary: nothing is running any more
            run.cancel()
        return
    if run.state in ("waiting_approval", "awaiting_plan_review"):
        return
    queued = next((t for t in run.tasks.values() if t.status == "awaiting_approval"), None)
    if queued is not None:
        subject = f"task:{queued.task_id}"
        run.request_approval(subject, queued.reason, now, timeout_s=queued.approval_timeout_s)
        return
    for task in run.tasks.values():
        if task.status in ("failed", "denied") and task.kind not in OPTIONAL:
            verb = "denied by policy" if task.status == "denied" else "failed"
            run.fail(f"{task.kind} {verb}: {task.reason}", step=task.kind, fault=task.fault)
            return

    plans = run.tasks_of("plan")
    if not plans:
        plan = PlanInput(question=run.question, depth=run.depth, **_shape(run))
        run.request_task(task_id(run, "plan", 0), "plan", plan.model_dump())
        return
    if not _all_done(plans):
        return
    # A snapshot taken before plan reviews has no such attribute (nor asked for one).
    if run.review_plan and not any(a.subject == PLAN_REVIEW for a in run.approvals.values()):
        run.request_plan_review(now)
        return

    searches, reads = run.tasks_of("search"), run.tasks_of("read")
    if not searches and not reads:
        # A snapshot taken before runs chose their sources has no such attribute.
        sources = run.sources or list(DEFAULT_SOURCES)
        # The tenant's datasets are read under their own tool (read_dataset), not by the searches.
        elsewhere = [s for s in sources if s != "datasets"]
        for i, sub_question in enumerate(run.sub_questions if elsewhere else []):
            search = SearchInput(
                question=run.question, sub_question=sub_question, limit=PASSAGES_PER_SEARCH, sources=elsewhere
            )
            run.request_task(task_id(run, "search", i), "search", search.model_dump())
        if "datasets" in sources:
            for i, dataset in enumerate(run.datasets or [ALL_DATASETS]):
                read = ReadInput(
                    dataset=dataset,
                    query=run.question[:2000],
                    limit=PASSAGES_PER_SEARCH,
                    # Bounded like every task input; a plan has far fewer sub-questions than this.
                    sub_questions=run.sub_questions[:MAX_SUB_QUESTIONS_PER_READ],
                )
                run.request_task(task_id(run, "read", i), "read", read.model_dump())
        return
    if not all(_settled(t) for t in [*searches, *reads]):
        return

    collects = run.tasks_of("collect")
    if not collects:
        fetches = run.tasks_of("fetch")
        if not fetches:
            batches = fetch_batches(run)
            for i, batch in enumerate(batches):
                run.request_task(task_id(run, "fetch", i), "fetch", batch.model_dump())
            if batches:
                return
        elif not all(_settled(t) for t in fetches):
            return
        findings = merged_findings(run)
        if not any(f.passages for f in findings):
            # The searches ran as asked and found nothing: work done, charged like an answer.
            dropped = [
                f"{t.tool} {t.input.get('url') or t.input.get('dataset') or ''}: {t.reason}"
                for t in [*reads, *fetches]
                if not t.done
            ]
            why = f" (not read: {'; '.join(dropped)})" if dropped else ""
            run.fail(f"no source in the corpus matches the question{why}"[:2000], step="search", fault="tenant")
            return
        # The input is built from the searches' outputs at dispatch (`task_input`), not stored again.
        run.request_task(task_id(run, "collect", 0), "collect", {"question": run.question})
        return
    if not _all_done(collects):
        return

    if not _single_step_done(run, "synthesise", {"question": run.question, "max_sources": run.max_sources}):
        return
    draft = SynthesiseOutput.model_validate(run.tasks_of("synthesise")[0].output).draft

    verifies = run.tasks_of("verify")
    if not verifies:
        if not draft.summary and not draft.sections:
            run.fail("the sources found support no answer to the question", step="synthesise", fault="tenant")
            return
        run.request_task(task_id(run, "verify", 0), "verify", {})
        return
    if not _all_done(verifies):
        return

    if run.approval_required and not _approved(run, PUBLISH_GATE):
        run.request_approval(PUBLISH_GATE, "the run asks for approval before publishing", now)
        return

    if not _single_step_done(run, "index", {"question": run.question}):
        return

    reports = run.tasks_of("report")
    if not reports:
        before = previous_draft() if run.previous_run_id else None
        changes = compare(run.previous_run_id, before, draft) if run.previous_run_id else None
        report = {"changes": changes.model_dump() if changes else None, "pii_policy": run.pii_policy}
        run.request_task(task_id(run, "report", 0), "report", report)
        return
    if not _all_done(reports):
        return
    run.complete()


def task_input(run: Run, task: TaskState) -> dict[str, Any]:
    """A task's whole input, built from the run's state when it is dispatched.

    What a task reads from earlier steps (passages, drafts) is already in the log as those
    steps' outputs; storing it again in the request would double the log for nothing.
    """
    kind = task.kind
    if kind in ("plan", "search", "fetch", "read"):
        return task.input
    if kind == "collect":
        return CollectInput(question=run.question, findings=merged_findings(run)).model_dump()
    if kind == "synthesise":
        collected = CollectOutput.model_validate(run.tasks_of("collect")[0].output)
        return SynthesiseInput(
            question=run.question,
            sub_questions=run.sub_questions,
            findings=collected.findings,
            max_sources=run.max_sources,
            **_length(run),
            **_shape(run),
        ).model_dump()
    draft = final_draft(run)
    if draft is None:
        raise ValueError(f"run {run.run_id} has no draft for its {kind} step")
    if kind == "verify":
        return VerifyInput(draft=draft).model_dump()
    if kind == "index":
        return IndexInput(run_id=run.run_id, question=run.question, draft=draft).model_dump()
    changes = task.input.get("changes")
    return ReportInput(
        run_id=run.run_id,
        draft=draft,
        changes=Changes.model_validate(changes) if changes else None,
        pii_policy=task.input.get("pii_policy", "redact"),
        methods=report_methods(run),
        **_length(run),
    ).model_dump()


def fetch_batches(run: Run) -> list[FetchInput]:
    """The pages the searches offered, one batch per host (at most MAX_PAGES_PER_FETCH pages), so
    that each `fetch_url` decision is about exactly the host its pages are on."""
    pages: dict[str, dict[str, list[PagesWanted]]] = {}  # host -> url -> the sub-questions offering it
    for search in run.tasks_of("search"):
        found = SearchOutput.model_validate(search.output)
        wanted = {
            "sub_question": found.sub_question,
            "query": f"{found.sub_question} {run.question}",
            "limit": search.input.get("limit", PASSAGES_PER_SEARCH),
        }
        for candidate in found.candidates:
            host = urlsplit(candidate.url).hostname
            if host:
                pages.setdefault(host, {}).setdefault(candidate.url, []).append(
                    PagesWanted(urls=[candidate.url], **wanted)
                )
    batches: list[FetchInput] = []
    for by_url in pages.values():
        urls = list(by_url)
        for start in range(0, len(urls), MAX_PAGES_PER_FETCH):
            chunk = urls[start : start + MAX_PAGES_PER_FETCH]
            asks: dict[str, PagesWanted] = {}
            for url in chunk:
                for ask in by_url[url]:
                    seen = asks.get(ask.sub_question)
                    asks[ask.sub_question] = (
                        ask if seen is None else seen.model_copy(update={"urls": [*seen.urls, url]})
                    )
            batches.append(FetchInput(url=chunk[0], urls=chunk, wanted=list(asks.values())))
    return batches


def merged_findings(run: Run) -> list[SearchOutput]:
    """Per sub-question, the passages of its search, of the datasets read and of the pages fetched
    for it, taken in turn (their scores are not on one scale, their ranks are)."""
    lists: dict[str, list[list[Passage]]] = {}
    for search in run.tasks_of("search"):
        found = SearchOutput.model_validate(search.output)
        lists.setdefault(found.sub_question, []).append(found.passages)
    outputs: tuple[tuple[str, type[ReadOutput | FetchOutput]], ...] = (("read", ReadOutput), ("fetch", FetchOutput))
    for kind, model in outputs:
        for task in run.tasks_of(kind):
            if task.done and task.output:
                for finding in model.model_validate(task.output).findings:
                    lists.setdefault(finding.sub_question, []).append(finding.passages)
    order = dict.fromkeys([*run.sub_questions, *lists])
    return [
        SearchOutput(sub_question=q, passages=interleave(lists[q], PASSAGES_PER_SEARCH)) for q in order if q in lists
    ]


def compare(previous_run_id: str, before: Draft | None, after: Draft) -> Changes:
    """New and dropped sources and findings between two drafts (all new when there is no before)."""

    def sources(draft: Draft | None) -> dict[tuple[str, str], str]:
        return {(s.source_id, s.location): f"{s.title} — {s.location}" for s in (draft.sources if draft else [])}

    def findings(draft: Draft | None) -> list[str]:
        if draft is None:
            return []
        claims = [*draft.summary, *(c for section in draft.sections for c in section.claims)]
        return list(dict.fromkeys(c.text for c in claims))

    old_sources, new_sources = sources(before), sources(after)
    old_findings, new_findings = findings(before), findings(after)
    return Changes(
        previous_run_id=previous_run_id,
        new_sources=[title for key, title in new_sources.items() if key not in old_sources],
        dropped_sources=[title for key, title in old_sources.items() if key not in new_sources],
        new_findings=[f for f in new_findings if f not in old_findings],
        dropped_findings=[f for f in old_findings if f not in new_findings],
    )


def final_draft(run: Run) -> Draft | None:
    synthesis = next((t.output for t in run.tasks_of("synthesise") if t.output), None)
    return SynthesiseOutput.model_validate(synthesis).draft if synthesis else None


def _length(run: Run) -> dict[str, Any]:
    # A snapshot taken before runs chose their length has no such attributes.
    return {"length": run.length, "target_words": run.target_words}


def _shape(run: Run) -> dict[str, Any]:
    """The report's outline and tone from the run's template (runs from before templates have none)."""
    template = run.template or {}
    return {"outline": template.get("outline") or [], "tone": template.get("tone") or "neutral"}


def _approved(run: Run, subject: str) -> bool:
    return any(a.subject == subject and a.status == "approved" for a in run.approvals.values())


def _all_done(tasks: list[TaskState]) -> bool:
    return all(t.done for t in tasks)


def _single_step_done(run: Run, kind: str, task_input: dict[str, Any]) -> bool:
    """Whether the step of one task is done; requests that task (with `task_input`) if it has none."""
    tasks = run.tasks_of(kind)
    if not tasks:
        run.request_task(task_id(run, kind, 0), kind, task_input)
        return False
    return _all_done(tasks)


def _settled(task: TaskState) -> bool:
    """Done, or an optional step that was refused or failed for good and is dropped."""
    return task.done or (task.kind in OPTIONAL and task.status in ("failed", "denied"))
