"""A research run on the live web, end to end: the tenant chooses web sources, the retriever asks a
SearXNG JSON API and fetches the pages (both local servers speaking the real protocols), and the
report cites the pages, never the boilerplate, the robots-disallowed page or the planted instruction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.client import QuarryClient
from devtools.stack import Stack, StackConfig
from quarry_runtime import natsserver
from services.gateway.readmodel import TERMINAL
from tests.e2e.helpers import ask, new_tenant, running, wait_for
from tests.fakes.search_apis import IndexedPage, SearchEngine, searxng_app
from tests.fakes.serving import serve_app
from tests.fakes.website import PRIVATE_PATH, Website

pytestmark = [pytest.mark.e2e, pytest.mark.infra]

QUESTION = "How does zonation shape tide pools and what threatens tide pool communities?"


@pytest.fixture(scope="module")
def web() -> Iterator[tuple[Website, SearchEngine, str, str]]:
    site, engine = Website(), SearchEngine()
    with serve_app(site.app, "website") as site_url, serve_app(searxng_app(engine), "searxng") as searxng:
        engine.pages = [IndexedPage(site_url + path, title, text) for path, title, text in site.catalogue()]
        yield site, engine, searxng, site_url


@pytest.fixture(scope="module")
def stack(web: tuple[Website, SearchEngine, str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _, _, searxng, _ = web
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("e2e-web"),
        http_port=natsserver.free_port(),
        extra_env={
            "QUARRY_SEARXNG_URL": searxng,
            "QUARRY_WEB_ALLOW_PRIVATE_HOSTS": "true",  # the website lives on 127.0.0.1
            "QUARRY_WEB_PAGES_PER_SEARCH": "20",
            "QUARRY_WEB_READ_TIMEOUT_S": "1",
            "QUARRY_WEB_PAGE_TIMEOUT_S": "2",
            "QUARRY_WEB_MAX_PAGE_BYTES": str(1024 * 1024),
        },
    )
    with running(config) as s:
        yield s


@pytest.fixture
def client_factory(stack: Stack) -> Iterator[type[QuarryClient]]:
    clients: list[QuarryClient] = []

    class Bound(QuarryClient):
        def __init__(self) -> None:
            super().__init__(f"http://127.0.0.1:{stack.config.http_port}")
            clients.append(self)

    yield Bound
    for c in clients:
        c.close()


def finished(client: QuarryClient, run_id: str) -> dict[str, Any] | None:
    view = client.run(run_id)
    return view if view["state"] in TERMINAL and view["cost"]["closed"] and view["guardrails"] else None


def test_a_tenant_that_chooses_the_web_gets_a_report_cited_from_web_pages(
    stack: Stack, client_factory: type[QuarryClient], web: tuple[Website, SearchEngine, str, str]
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
    view = wait_for(lambda: finished(client, run_id), timeout_s=180, what="the web run to end")
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
