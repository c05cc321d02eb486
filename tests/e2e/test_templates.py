"""Research templates end to end: a run made from a template has the template's outline as its
report's sections and names the template's id and version; editing the template later changes
nothing about that run; a monitor made from the template fires runs that use it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devtools import natsserver
from devtools.client import QuarryClient
from devtools.stack import Stack, StackConfig
from services.gateway.readmodels.run_view import TERMINAL
from tests.support.polling import wait_for
from tests.support.stack import running

pytestmark = [pytest.mark.e2e, pytest.mark.infra]

OUTLINE = [
    {"heading": "What it is", "hint": "what a context manager is and the with statement"},
    {"heading": "How to write one", "hint": "the __enter__ and __exit__ methods, contextlib"},
    {"heading": "Telescopes", "hint": "astronomy, stars and galaxies"},
]
HEADINGS = [o["heading"] for o in OUTLINE]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("templates"),
        http_port=natsserver.free_port(),
        extra_env={"QUARRY_MONITOR_MIN_INTERVAL_S": "2"},
    )
    with running(config) as s:
        yield s


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if response.content else None


def finished(client: QuarryClient, run_id: str) -> dict[str, Any]:
    def over() -> dict[str, Any] | None:
        view = client.run(run_id)
        return view if view["state"] in TERMINAL and view["cost"]["closed"] else None

    view = wait_for(over, timeout_s=180, what=f"run {run_id} to end")
    assert view["state"] == "completed", view.get("error")
    return view


def body_headings(markdown: str) -> list[str]:
    """The report's section headings between the summary and the methods."""
    headings = re.findall(r"^## (.+)$", markdown, flags=re.M)
    return headings[headings.index("Summary") + 1 : headings.index("Methods")]


def test_runs_and_monitors_follow_the_template_they_name(stack: Stack) -> None:
    client = QuarryClient(f"http://127.0.0.1:{stack.config.http_port}")
    client.signup(f"tess-{uuid.uuid4().hex[:6]}@example.com", "correct-horse-battery", "tess")
    auth = {"Authorization": f"Bearer {client.token}"}
    made = ok(
        client.http.post(
            "/v1/templates",
            json={"name": "Explainer", "depth": 3, "max_sources": 4, "outline": OUTLINE, "tone": "technical"},
            headers=auth,
        ),
        201,
    )
    template_id = made["template_id"]

    # depth is the request's own; max_sources, outline and tone come from the template.
    r = client.http.post(
        "/v1/runs",
        json={"question": "What is a Python context manager?", "depth": 1, "template_id": template_id},
        headers=auth,
    )
    run_id = ok(r, 202)["run_id"]
    view = finished(client, run_id)
    assert (view["depth"], view["max_sources"]) == (1, 4)
    assert view["template"] == {
        "template_id": template_id,
        "version": 1,
        "name": "Explainer",
        "tone": "technical",
        "outline": HEADINGS,
    }
    markdown = client.get(f"/v1/runs/{run_id}/report.md").text
    sections = body_headings(markdown)
    assert sections[: len(HEADINGS)] == HEADINGS, sections
    assert set(sections[len(HEADINGS) :]) <= {"Other findings"}, sections
    assert f"Explainer (id {template_id}, version 1), technical tone" in markdown

    # A new version changes what later runs get, not what this one says it used.
    changed = {"name": "Explainer", "depth": 1, "max_sources": 3, "outline": OUTLINE[:2], "tone": "executive"}
    assert ok(client.http.put(f"/v1/templates/{template_id}", json=changed, headers=auth))["version"] == 2
    assert client.run(run_id)["template"]["version"] == 1
    first = ok(client.http.get(f"/v1/templates/{template_id}", params={"version": 1}, headers=auth))
    assert first["tone"] == "technical" and len(first["outline"]) == 3

    r = client.http.post(
        "/v1/monitors",
        json={"question": "How do context managers work in Python?", "interval_s": 2, "template_id": template_id},
        headers=auth,
    )
    monitor_id = ok(r, 202)["monitor_id"]
    monitor = ok(client.http.get(f"/v1/monitors/{monitor_id}", headers=auth))
    assert monitor["template"] == {"template_id": template_id, "version": 2, "name": "Explainer"}
    fired = wait_for(
        lambda: ok(client.http.get(f"/v1/monitors/{monitor_id}", headers=auth))["runs"], what="the monitor to fire"
    )
    ok(client.http.delete(f"/v1/monitors/{monitor_id}", headers=auth), 202)
    monitored = finished(client, fired[0]["run_id"])
    assert monitored["monitor_id"] == monitor_id
    assert (monitored["depth"], monitored["max_sources"]) == (1, 3)
    assert monitored["template"]["version"] == 2 and monitored["template"]["tone"] == "executive"
    monitored_md = client.get(f"/v1/runs/{fired[0]['run_id']}/report.md").text
    assert body_headings(monitored_md)[:2] == HEADINGS[:2]
    assert f"Explainer (id {template_id}, version 2), executive tone" in monitored_md
    client.close()
