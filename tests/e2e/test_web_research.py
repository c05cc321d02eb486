"""A research run on the live web, end to end: the tenant chooses web sources, the retriever asks a
SearXNG JSON API and, host by host as policy allows `fetch_url`, fetches the pages (both local
servers speaking the real protocols), and the report cites the pages, never the boilerplate, the
robots-disallowed page or the planted instruction; a host outside the allow-list is never asked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools import natsserver
from devtools.client import QuarryClient
from devtools.stack import Stack, StackConfig
from services.gateway.readmodels.run_view import TERMINAL
from tests.fakes.search_apis import IndexedPage
from tests.fakes.website import PRIVATE_PATH
from tests.support.polling import wait_for
from tests.support.stack import ClientFactory, ask, new_tenant, running, stuck_run
from tests.support.web import Web, registry_for_tests, served_web

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.timeout(600)]

QUESTION = "How does zonation shape tide pools and what threatens tide pool communities?"


@pytest.fixture(scope="module")
def web() -> Iterator[Web]:
    with served_web() as served:
        yield served


@pytest.fixture(scope="module")
def stack(web: Web, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _, _, searxng, _ = web
    data_dir = tmp_path_factory.mktemp("e2e-web")
    config = StackConfig(
        data_dir=data_dir,
        http_port=natsserver.free_port(),
        extra_env={
            "QUARRY_SEARXNG_URL": searxng,
            "QUARRY_WEB_ALLOW_PRIVATE_HOSTS": "true",  # the website lives on 127.0.0.1
            "QUARRY_WEB_PAGES_PER_SEARCH": "20",
            # As tests.support.websearch.LIMITS: roomy for an ordinary local page on a loaded machine
            # (2 s was not, late in a full test run), short of the slow page's SLOW_S.
            "QUARRY_WEB_READ_TIMEOUT_S": "3",
            "QUARRY_WEB_PAGE_TIMEOUT_S": "4",
            "QUARRY_WEB_MAX_PAGE_BYTES": str(1024 * 1024),
            "QUARRY_REGISTRY_FILE": str(registry_for_tests(data_dir)),
        },
    )
    with running(config) as s:
        yield s


def finished(client: QuarryClient, run_id: str) -> dict[str, Any] | None:
    view = client.run(run_id)
    return view if view["state"] in TERMINAL and view["cost"]["closed"] and view["guardrails"] else None


def web_tenant(client_factory: ClientFactory, name: str) -> QuarryClient:
    """A new tenant on the pro plan (fetch_url's tier) whose runs search the web."""
    client = new_tenant(client_factory, name)
    auth = {"Authorization": f"Bearer {client.token}"}
    r = client.http.post("/v1/billing/checkout", json={"kind": "subscription", "item": "pro"}, headers=auth)
    assert r.status_code == 201 and r.json()["completed"], r.text
    r = client.http.patch("/v1/tenant/settings", json={"sources": ["web"]}, headers=auth)
    assert r.status_code == 200 and r.json()["sources"] == ["web"]
    return client


def decisions(client: QuarryClient, run_id: str, tool: str) -> list[dict[str, Any]]:
    events = client.get(f"/v1/runs/{run_id}/log").json()["events"]
    return [
        e["event"]["payload"]
        for e in events
        if e["event"]["type"] == "tool.decided" and e["event"]["payload"]["tool"] == tool
    ]


def used_by_tool(client: QuarryClient) -> dict[str, int]:
    summary: dict[str, int] = client.get("/v1/billing/summary").json()["used_by_tool"]
    return summary


def test_a_tenant_that_chooses_the_web_gets_a_report_cited_from_web_pages(
    stack: Stack, client_factory: ClientFactory, web: Web
) -> None:
    site, engine, _, site_url = web
    client = new_tenant(client_factory, "wanda")
    auth = {"Authorization": f"Bearer {client.token}"}
    # Web research is a paid plan's (the gateway refuses it on the free plan before the 202).
    r = client.http.post("/v1/runs", json={"question": QUESTION, "sources": ["web"]}, headers=auth)
    assert r.status_code == 403 and "web research" in r.json()["detail"], r.text
    r = client.http.post("/v1/billing/checkout", json={"kind": "subscription", "item": "pro"}, headers=auth)
    assert r.status_code == 201 and r.json()["completed"], r.text
    bad = client.http.patch("/v1/tenant/settings", json={"sources": ["intranet"]}, headers=auth)
    assert bad.status_code == 422
    r = client.http.patch("/v1/tenant/settings", json={"sources": ["web"]}, headers=auth)
    assert r.status_code == 200 and r.json()["sources"] == ["web"]

    run_id = ask(client, question=QUESTION, depth=1, max_sources=4)  # no sources given: the tenant's
    try:
        view = wait_for(lambda: finished(client, run_id), timeout_s=360, what="the web run to end")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {stuck_run(stack, client, run_id)}") from None
    assert view is not None and view["state"] == "completed", view and view["error"]
    assert engine.asked("searxng"), "the web search API was never asked"
    assert view["sources"] and all(s["source_id"].startswith(site_url) for s in view["sources"])
    requested = next(
        e["event"]
        for e in client.get(f"/v1/runs/{run_id}/log").json()["events"]
        if e["event"]["type"] == "run.requested"
    )
    assert requested["payload"]["sources"] == ["web"]

    md = client.get(f"/v1/runs/{run_id}/report.md").text
    assert "tide" in md.lower()
    for never in ("Ignore all previous instructions", "system prompt", "Cookie settings", "Copyright 2026"):
        assert never not in md
    assert PRIVATE_PATH not in site.paths()
    assert {"guardrail": "prompt_injection", "where": "source", "action": "stripped"}.items() <= next(
        t for t in view["guardrails"] if t["where"] == "source"
    ).items()
    # Each host's pages were fetched under their own fetch_url decision, and metered as such.
    fetch_decisions = wait_for(lambda: decisions(client, run_id, "fetch_url"), timeout_s=30, what="fetch decisions")
    assert fetch_decisions and {d["decision"] for d in fetch_decisions} == {"allow"}
    assert wait_for(lambda: used_by_tool(client).get("fetch_url"), timeout_s=30, what="fetch_url usage")


def test_a_host_outside_the_allow_list_waits_for_a_human_and_is_never_asked_when_refused(
    stack: Stack, client_factory: ClientFactory, web: Web
) -> None:
    site, engine, _, site_url = web
    # The same site under a name policy does not list: every page is offered twice, once per host.
    elsewhere = site_url.replace("127.0.0.1", "localhost")
    mirrored = [IndexedPage(elsewhere + path, title, text) for path, title, text in site.catalogue()]
    engine.pages.extend(mirrored)
    try:
        client = web_tenant(client_factory, "wes")
        run_id = ask(client, question=QUESTION, depth=1, max_sources=4)
        waiting = wait_for(
            lambda: (v := client.run(run_id))["state"] == "waiting_approval" and v,
            timeout_s=120,
            what="the unlisted host's fetch to wait for approval",
        )
        assert "fetch_url" in waiting["approval"]["reason"] and "egress-review" in waiting["approval"]["reason"]
        asked = wait_for(
            lambda: (
                (d := {d["decision"] for d in decisions(client, run_id, "fetch_url")}) >= {"require_approval"} and d
            ),
            timeout_s=30,
            what="the fetch_url decisions in the run's log",
        )
        assert asked == {"allow", "require_approval"}
        assert "localhost" not in site.hosts()
        r = client.http.post(
            f"/v1/runs/{run_id}/approval",
            json={"decision": "reject", "comment": "not that host"},
            headers={"Authorization": f"Bearer {client.token}"},
        )
        assert r.status_code == 202, r.text
        view = wait_for(lambda: finished(client, run_id), timeout_s=360, what="the web run to end")
        assert view is not None and view["state"] == "completed", view and view["error"]
        assert view["approval"]["status"] == "refused"
        assert view["sources"] and all(s["source_id"].startswith(site_url) for s in view["sources"])
        assert "localhost" not in site.hosts()  # not before the refusal, not after
    finally:
        for page in mirrored:
            engine.pages.remove(page)
