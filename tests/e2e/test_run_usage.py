"""A run's usage in its inspector: every service as its own process, the analyst on a model (a
local OpenAI-compatible server), and GET /v1/runs/{id}/tasks summing what each task's worker
recorded, from the usage events the gateway now keeps in the run's log, and the credits billing
metered for them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.stack import Stack
from tests.support.polling import wait_for
from tests.support.stack import ClientFactory, clients_of, completed_run, live_analyst_config, new_tenant, running

pytestmark = [pytest.mark.e2e, pytest.mark.infra]

QUESTION = "How does the with statement work and what are context managers?"
MODEL = "fake-planner"


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory, llm_url: str) -> Iterator[Stack]:
    with running(live_analyst_config(tmp_path_factory.mktemp("usage"), llm_url, MODEL)) as stack:
        yield stack


@pytest.fixture
def clients(live_stack: Stack) -> Iterator[ClientFactory]:
    """Clients of the stack's gateway, each closed after the test."""
    with clients_of(live_stack) as bound:
        yield bound


def test_a_run_s_tasks_show_the_usage_their_workers_recorded(clients: ClientFactory) -> None:
    alice = new_tenant(clients, "usage")
    run_id = completed_run(alice, QUESTION)

    def all_metered() -> list[dict[str, Any]] | None:
        # The gateway reads usage.> through its own consumer, so a record may land just after
        # the task's outcome: wait until every record a task's outcome names is in its log.
        r = alice.get(f"/v1/runs/{run_id}/tasks")
        assert r.status_code == 200, r.text
        tasks: list[dict[str, Any]] = r.json()["tasks"]
        return tasks if all(t["usage"]["records"] == t["usage_records"] for t in tasks) else None

    tasks = wait_for(all_metered, 60.0, "every task's usage records in the run's log")
    streamed = [e.json() for e in alice.events(run_id) if e.event == "usage.recorded"]
    assert streamed, "usage events reach the run's stream"
    by_kind = {t["kind"]: t for t in tasks}
    # The model planned and wrote the draft: tokens both ways, named by the model that answered.
    for kind in ("plan", "synthesise"):
        usage = by_kind[kind]["usage"]
        assert usage["tokens_in"] > 0 and usage["tokens_out"] > 0, (kind, usage)
        assert usage["models"] == [MODEL], (kind, usage)
        assert set(usage["by_tool"]) == {"llm_generate"}
    searches = [t for t in tasks if t["kind"] == "search"]
    assert searches and all(t["usage"]["search_calls"] > 0 for t in searches)
    # Each task's sums are its records on the stream, and every record the worker named is there.
    for task in tasks:
        mine = [e["payload"] for e in streamed if e["payload"]["task_id"] == task["task_id"]]
        assert task["usage"]["records"] == len(mine) > 0, task["kind"]
        assert task["usage"]["tokens_in"] == sum(p["tokens_in"] for p in mine)
        assert task["usage"]["search_calls"] == sum(p["search_calls"] for p in mine)
    # Each task's credits are billing's metering of its records; together they are what
    # billing settled for the run: every record the tasks' outcomes named, well under the
    # reservation's cap on a fresh tenant's small run.
    view = wait_for(lambda: (v := alice.run(run_id))["cost"]["closed"] and v, 60.0, "the run's credits settled")

    def all_credited() -> dict[str, Any] | None:
        body: dict[str, Any] = alice.get(f"/v1/runs/{run_id}/tasks").json()
        credits = body["credits"]
        return body if credits["available"] and credits["unmetered_records"] == 0 else None

    billed = wait_for(all_credited, 60.0, "billing's credits for every usage record")
    per_task = [t["credits"] for t in billed["tasks"]]
    assert all(isinstance(c, int) and c >= 0 for c in per_task), per_task
    assert sum(per_task) == billed["credits"]["total"] == view["cost"]["settled"] > 0, (per_task, view["cost"])
    # The same log another tenant cannot read.
    other = new_tenant(clients, "nosy")
    assert other.get(f"/v1/runs/{run_id}/tasks").status_code == 404


def test_a_run_s_costs_per_step_add_up_to_what_billing_settled_for_it(clients: ClientFactory) -> None:
    bob = new_tenant(clients, "costs")
    run_id = completed_run(bob, QUESTION)

    def settled_costs() -> dict[str, Any] | None:
        r = bob.get(f"/v1/runs/{run_id}/costs")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        totals = body["totals"]
        complete = totals["missing_usage"] == 0 and totals["credits"]["unmetered_records"] == 0
        return body if complete and totals["credits"]["settlement"] == "settled" else None

    costs = wait_for(settled_costs, 60.0, "the run's costs, every record metered and the run settled")
    assert costs is not None  # wait_for returns only what it found
    # Billing's own ledger, asked of billing: the settlement entry of this run.
    ledger = bob.get("/v1/billing/ledger?limit=500").json()["entries"]
    [settled] = [e for e in ledger if e["kind"] == "settled" and e["run_id"] == run_id]
    charged = [s["credits"]["charged"] for s in costs["steps"]]
    assert sum(charged) == costs["totals"]["credits"]["settled"] == abs(settled["amount"]) > 0, (charged, settled)
    assert costs["totals"]["credits"]["charged"] == abs(settled["amount"])
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for step in costs["steps"]:
        by_kind.setdefault(step["kind"], []).append(step)
    # The model's tokens are the plan's and the synthesis's, named by the model that answered.
    for kind in ("plan", "synthesise"):
        step = by_kind[kind][0]
        assert step["tokens_in"] > 0 and step["tokens_out"] > 0, step
        assert [m["model"] for m in step["by_model"]] == [MODEL]
        assert step["credits"]["charged"] > 0 and step["wall_ms"] is not None
    assert all(s["sub_question"] for s in by_kind["search"]), by_kind["search"]
    totals = costs["totals"]
    assert totals["tokens_in"] == sum(s["tokens_in"] for s in costs["steps"]) > 0
    assert totals["wall_ms"] > 0 and totals["credits"]["reserved"] >= totals["credits"]["settled"]
