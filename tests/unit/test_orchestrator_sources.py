"""Where a run looks, each under its own tool: the web pages a search offers are fetched only under a
`fetch_url` decision per host, the tenant's datasets read only under a `read_dataset` decision each."""

from __future__ import annotations

from typing import Any

from contracts.approval import ApprovalGiven, ApprovalPayload, ApprovalRejected
from contracts.envelope import Actor
from contracts.run import RunRequestedPayload, RunResumed
from contracts.tool import ToolRequested
from contracts.work import (
    ALL_DATASETS,
    FetchInput,
    FetchOutput,
    Passage,
    SearchOutput,
    WebCandidate,
)
from services.orchestrator.application import Orchestrator
from services.orchestrator.runs.workflow import task_input
from tests.support.orchestrator import (
    PASSAGE,
    UPLOAD,
    Clock,
    admitted,
    decide,
    outputs_for,
    rate_limited,
    relayed,
    succeed,
    timer,
    with_status,
    work,
)

DOCS = "https://docs.python.org/3/library/contextlib.html"
DOCS_2 = "https://docs.python.org/3/reference/datamodel.html"
PASTE = "https://paste.example.net/raw/123"
BLOG = "https://blog.example.org/context-managers"


def web_search_output(task_input: dict[str, Any], urls: list[str]) -> dict[str, Any]:
    return SearchOutput(
        sub_question=task_input["sub_question"],
        passages=[PASSAGE],
        candidates=[WebCandidate(url=u, title=u) for u in urls],
    ).model_dump()


def fetched(task_input: dict[str, Any]) -> dict[str, Any]:
    """What the retriever answers: one passage per page, for each sub-question that offered it."""
    batch = FetchInput.model_validate(task_input)
    findings = [
        SearchOutput(
            sub_question=w.sub_question,
            passages=[Passage(source_id=u, title=u, location="§1", text=f"page {u}") for u in w.urls],
        )
        for w in batch.wanted
    ]
    return FetchOutput(findings=findings).model_dump()


def started_with(app: Orchestrator, sources: list[str], datasets: list[str] | None = None) -> str:
    """A run admitted and planning, looking where `sources` say."""
    return admitted(
        app,
        RunRequestedPayload(
            question="what is a context manager", depth=1, max_sources=5, sources=sources, datasets=datasets
        ),
    )


def planned(app: Orchestrator, run_id: str) -> None:
    plan = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan))
    app.finish_task(succeed(app.get_run(run_id), plan, outputs_for("plan", {})))


def searched(app: Orchestrator, offers: list[list[str]]) -> str:
    """A run past its plan and its searches of the corpus and the web, the i-th search offering `offers[i]`."""
    run_id = started_with(app, ["corpus", "web"])
    plan = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan))
    app.finish_task(succeed(app.get_run(run_id), plan, outputs_for("plan", {})))
    searches = with_status(app, run_id, "requested")
    for search in searches:
        app.apply_decision(decide(app.get_run(run_id), search))
    for search, urls in zip(searches, offers, strict=True):
        run = app.get_run(run_id)
        app.finish_task(succeed(run, search, web_search_output(task_input(run, run.tasks[search]), urls)))
    return run_id


def fetches(app: Orchestrator, run_id: str) -> dict[str, str]:
    """The run's fetch tasks by the URL policy is asked about."""
    return {t.input["url"]: t.task_id for t in app.get_run(run_id).tasks_of("fetch")}


def test_the_pages_searches_offer_are_fetched_only_after_a_fetch_url_decision_per_host(app: Orchestrator) -> None:
    run_id = searched(app, [[DOCS, PASTE], [DOCS_2, DOCS]])
    run = app.get_run(run_id)
    batches = {
        FetchInput.model_validate(t.input).url: FetchInput.model_validate(t.input) for t in run.tasks_of("fetch")
    }
    assert set(batches) == {DOCS, PASTE}  # one batch per host, never a host's page in another's batch
    assert batches[DOCS].urls == [DOCS, DOCS_2]
    assert {w.sub_question: set(w.urls) for w in batches[DOCS].wanted} == {
        "What is a context manager?": {DOCS},
        "How is it used?": {DOCS_2, DOCS},
    }
    assert all(t.tool == "fetch_url" and t.status == "requested" for t in run.tasks_of("fetch"))
    assert run.tasks_of("collect") == []  # nothing goes on before every fetch is settled
    requests = [o.event.payload for o in relayed(app) if isinstance(o.event, ToolRequested)]
    asked = {r.arguments["url"]: r for r in requests if r.tool == "fetch_url"}
    assert set(asked) == {DOCS, PASTE}
    # Exactly what the registry's strict fetch_url schema accepts: the URL whose host policy checks.
    assert all(set(r.arguments) == {"url"} and r.step == "fetch" for r in asked.values())


def test_a_denied_host_is_never_fetched_and_the_run_goes_on_without_it(app: Orchestrator) -> None:
    run_id = searched(app, [[DOCS, PASTE], [BLOG]])
    tasks = fetches(app, run_id)
    app.apply_decision(decide(app.get_run(run_id), tasks[PASTE], decision="deny"))
    app.apply_decision(decide(app.get_run(run_id), tasks[BLOG], decision="deny"))
    app.apply_decision(decide(app.get_run(run_id), tasks[DOCS]))
    run = app.get_run(run_id)
    assert run.state == "running"
    assert {t.input["url"]: t.status for t in run.tasks_of("fetch")} == {
        DOCS: "dispatched",
        PASTE: "denied",
        BLOG: "denied",
    }
    dispatched = [o.event for o in relayed(app) if o.subject == "task.v1.dispatched.retriever"]
    fetched_urls = {u for e in dispatched if e.payload.kind == "fetch" for u in e.payload.input["urls"]}
    assert fetched_urls == {DOCS}
    app.finish_task(succeed(run, tasks[DOCS], fetched(task_input(run, run.tasks[tasks[DOCS]]))))
    run = app.get_run(run_id)
    (collect,) = run.tasks_of("collect")
    sources = {p["source_id"] for f in task_input(run, collect)["findings"] for p in f["passages"]}
    assert sources == {PASSAGE.source_id, DOCS}


def test_a_run_whose_only_pages_were_refused_fails_saying_so(app: Orchestrator) -> None:
    run_id = started_with(app, ["web"])
    plan = with_status(app, run_id, "requested")[0]
    app.apply_decision(decide(app.get_run(run_id), plan))
    app.finish_task(succeed(app.get_run(run_id), plan, outputs_for("plan", {})))
    for search in with_status(app, run_id, "requested"):
        app.apply_decision(decide(app.get_run(run_id), search))
        run = app.get_run(run_id)
        output = SearchOutput(
            sub_question=run.tasks[search].input["sub_question"], passages=[], candidates=[WebCandidate(url=PASTE)]
        )
        app.finish_task(succeed(run, search, output.model_dump()))
    app.apply_decision(decide(app.get_run(run_id), fetches(app, run_id)[PASTE], decision="deny"))
    run = app.get_run(run_id)
    assert run.state == "failed"
    assert PASTE in (run.failure or "") and "because" in (run.failure or "")


def test_each_host_that_needs_approval_waits_its_turn(app: Orchestrator) -> None:
    run_id = searched(app, [[PASTE], [BLOG]])
    tasks = fetches(app, run_id)
    app.apply_decision(decide(app.get_run(run_id), tasks[PASTE], "require_approval", approval_timeout_s=3600))
    app.apply_decision(decide(app.get_run(run_id), tasks[BLOG], "require_approval", approval_timeout_s=3600))
    run = app.get_run(run_id)
    assert run.state == "waiting_approval"
    first = run.pending_approval()
    assert first is not None and first.subject == f"task:{tasks[PASTE]}"
    assert run.tasks[tasks[BLOG]].status == "awaiting_approval"
    app.decide_approval(
        ApprovalGiven.create(ApprovalPayload(approval_id=first.approval_id), tenant_id="tenant-a", run_id=run_id)
    )
    run = app.get_run(run_id)
    assert run.tasks[tasks[PASTE]].status == "dispatched"
    second = run.pending_approval()
    assert second is not None and second.subject == f"task:{tasks[BLOG]}"
    assert run.state == "waiting_approval" and run.tasks[tasks[BLOG]].status == "requested"
    app.decide_approval(
        ApprovalGiven.create(ApprovalPayload(approval_id=second.approval_id), tenant_id="tenant-a", run_id=run_id)
    )
    run = app.get_run(run_id)
    assert {t.status for t in run.tasks_of("fetch")} == {"dispatched"}
    for task in run.tasks_of("fetch"):
        run = app.get_run(run_id)
        app.finish_task(succeed(run, task.task_id, fetched(task_input(run, run.tasks[task.task_id]))))
    assert len(app.get_run(run_id).tasks_of("collect")) == 1


def test_a_rate_limited_fetch_is_asked_for_again(app: Orchestrator) -> None:
    run_id = searched(app, [[DOCS], []])
    task_id = fetches(app, run_id)[DOCS]
    app.apply_decision(rate_limited(app.get_run(run_id), task_id))
    run = app.get_run(run_id)
    assert run.tasks[task_id].status == "requested" and run.tasks[task_id].throttles == 1
    assert run.state == "running"


def test_a_run_without_web_pages_has_no_fetch_step(app: Orchestrator) -> None:
    run_id = searched(app, [[], []])
    run = app.get_run(run_id)
    assert run.tasks_of("fetch") == [] and len(run.tasks_of("collect")) == 1


def test_report_methods_count_fetched_passages(app: Orchestrator) -> None:
    run_id = searched(app, [[DOCS], []])
    task_id = fetches(app, run_id)[DOCS]
    app.apply_decision(decide(app.get_run(run_id), task_id))
    run = app.get_run(run_id)
    app.finish_task(succeed(run, task_id, fetched(task_input(run, run.tasks[task_id]))))
    tallies = app.get_run(run_id).search_tallies
    assert sorted(t["passages"] for t in tallies.values()) == [1, 2]
    assert any(DOCS in t["source_ids"] for t in tallies.values())


def test_a_refused_or_expired_host_is_dropped_and_the_run_goes_on(app: Orchestrator, clock: Clock) -> None:
    run_id = searched(app, [[PASTE], [BLOG]])
    tasks = fetches(app, run_id)
    app.apply_decision(decide(app.get_run(run_id), tasks[PASTE], "require_approval", approval_timeout_s=3600))
    app.apply_decision(decide(app.get_run(run_id), tasks[BLOG], "require_approval", approval_timeout_s=3600))
    first = app.get_run(run_id).pending_approval()
    assert first is not None
    refusal = ApprovalPayload(approval_id=first.approval_id, comment="not that site")
    owner = Actor(user_id="owner-1", roles=["owner"])
    app.decide_approval(ApprovalRejected.create(refusal, tenant_id="tenant-a", run_id=run_id, actor=owner))
    run = app.get_run(run_id)
    assert run.tasks[tasks[PASTE]].status == "denied"
    assert run.tasks[tasks[PASTE]].reason == "approval refused by owner-1: not that site"
    assert run.approvals[first.approval_id].status == "refused"
    second = run.pending_approval()
    assert second is not None and second.subject == f"task:{tasks[BLOG]}"
    resumed = [o.event.payload for o in relayed(app) if isinstance(o.event, RunResumed)]
    assert [r.outcome for r in resumed] == ["refused"]
    app.fire_timer(timer(run, "approval_deadline", approval_id=second.approval_id))
    assert app.get_run(run_id).pending_approval() is not None  # not due yet
    clock.now = second.deadline
    app.fire_timer(timer(app.get_run(run_id), "approval_deadline", approval_id=second.approval_id))
    run = app.get_run(run_id)
    assert run.tasks[tasks[BLOG]].status == "denied" and run.approvals[second.approval_id].status == "expired"
    # Nothing was fetched, and the search's own passages carry the run on.
    assert run.state == "running" and len(run.tasks_of("collect")) == 1
    dispatched = [o.event.payload for o in relayed(app) if o.subject == "task.v1.dispatched.retriever"]
    assert [d.kind for d in dispatched] == ["search", "search"]


# --- datasets: read_dataset --------------------------------------------------------------------------


def test_the_tenants_datasets_are_read_under_read_dataset_not_by_the_searches(app: Orchestrator) -> None:
    run_id = started_with(
        app,
        ["corpus", "datasets"],
        datasets=["0190aaaa-0000-7000-8000-000000000001", "0190aaaa-0000-7000-8000-000000000002"],
    )
    planned(app, run_id)
    run = app.get_run(run_id)
    searches, reads = run.tasks_of("search"), run.tasks_of("read")
    assert len(searches) == 2 and all(t.input["sources"] == ["corpus"] and t.tool == "web_search" for t in searches)
    assert [t.input["dataset"] for t in reads] == [
        "0190aaaa-0000-7000-8000-000000000001",
        "0190aaaa-0000-7000-8000-000000000002",
    ]
    assert all(t.tool == "read_dataset" and t.input["sub_questions"] == run.sub_questions for t in reads)
    requests = [o.event.payload for o in relayed(app) if isinstance(o.event, ToolRequested)]
    asked = [r for r in requests if r.tool == "read_dataset"]
    # What the registry's strict read_dataset schema accepts: the dataset, the query, the limit.
    assert [sorted(r.arguments) for r in asked] == [["dataset", "limit", "query"]] * 2
    assert {r.arguments["dataset"] for r in asked} == {t.input["dataset"] for t in reads}


def test_a_run_on_default_sources_reads_all_the_tenants_datasets_and_only_datasets_has_no_search(
    app: Orchestrator,
) -> None:
    run_id = started_with(app, ["corpus", "datasets"])
    planned(app, run_id)
    (read,) = app.get_run(run_id).tasks_of("read")
    assert read.input["dataset"] == ALL_DATASETS
    only = started_with(app, ["datasets"])
    planned(app, only)
    run = app.get_run(only)
    assert run.tasks_of("search") == [] and len(run.tasks_of("read")) == 1


def test_a_denied_dataset_read_is_dropped_and_never_dispatched(app: Orchestrator) -> None:
    run_id = started_with(app, ["corpus", "datasets"])
    planned(app, run_id)
    run = app.get_run(run_id)
    (read,) = run.tasks_of("read")
    app.apply_decision(decide(run, read.task_id, decision="deny"))
    for search in run.tasks_of("search"):
        app.apply_decision(decide(app.get_run(run_id), search.task_id))
        run = app.get_run(run_id)
        app.finish_task(succeed(run, search.task_id, outputs_for("search", task_input(run, run.tasks[search.task_id]))))
    run = app.get_run(run_id)
    assert run.tasks[read.task_id].status == "denied" and run.state == "running"
    dispatched = [o.event.payload for o in relayed(app) if o.subject == "task.v1.dispatched.retriever"]
    assert [d.kind for d in dispatched] == ["search", "search"]
    (collect,) = run.tasks_of("collect")
    sources = {p["source_id"] for f in task_input(run, collect)["findings"] for p in f["passages"]}
    assert sources == {PASSAGE.source_id}


def test_an_allowed_read_joins_its_passages_to_the_searches(app: Orchestrator) -> None:
    run_id = started_with(app, ["corpus", "datasets"])
    work(app, run_id, stop_at="never")
    run = app.get_run(run_id)
    assert run.state == "completed"
    tallies = run.search_tallies
    assert [t["passages"] for t in tallies.values()] == [2, 2]  # the corpus passage and the dataset's
    assert all(UPLOAD.source_id in t["source_ids"] for t in tallies.values())


def test_a_datasets_only_run_whose_read_is_denied_fails_saying_why(app: Orchestrator) -> None:
    run_id = started_with(app, ["datasets"])
    planned(app, run_id)
    (read,) = app.get_run(run_id).tasks_of("read")
    app.apply_decision(decide(app.get_run(run_id), read.task_id, decision="deny"))
    run = app.get_run(run_id)
    assert run.state == "failed" and "read_dataset all: because" in (run.failure or "")
