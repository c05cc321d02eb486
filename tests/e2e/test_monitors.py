"""Monitors end to end, with two orchestrator replicas on PostgreSQL: every slot fires exactly
once, also across a restart of both replicas, and each run reports what changed."""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from devtools import natsserver, pgserver
from devtools.client import QuarryClient
from devtools.stack import Stack, StackConfig
from services.gateway.readmodels.run_view import TERMINAL
from tests.support.polling import wait_for
from tests.support.stack import running

pytestmark = [pytest.mark.e2e, pytest.mark.infra]


@pytest.fixture(scope="module")
def replicated_stack(tmp_path_factory: pytest.TempPathFactory, pg_server: str) -> Iterator[Stack]:
    database_url = pgserver.create_database(pg_server, prefix="quarry_monitors")
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("monitors"),
        http_port=natsserver.free_port(),
        database_url=database_url,
        replicas={"orchestrator": 2},
        extra_env={"QUARRY_MONITOR_MIN_INTERVAL_S": "2"},
    )
    try:
        with running(config) as stack:
            yield stack
    finally:
        pgserver.drop_database(pg_server, database_url)


def test_slots_fire_exactly_once_across_replicas_and_restarts(replicated_stack: Stack) -> None:
    client = QuarryClient(f"http://127.0.0.1:{replicated_stack.config.http_port}")
    client.signup(f"mona-{uuid.uuid4().hex[:6]}@example.com", "correct-horse-battery", "mona")
    auth = {"Authorization": f"Bearer {client.token}"}
    bad = client.http.post("/v1/monitors", json={"question": "What is asyncio?", "cron": "every day"}, headers=auth)
    assert bad.status_code == 400 and "cron" in bad.text

    def create(question: str) -> str:
        body = {"question": question, "interval_s": 3, "depth": 1, "max_sources": 3}
        r = client.http.post("/v1/monitors", json=body, headers=auth)
        assert r.status_code == 202, r.text
        return str(r.json()["monitor_id"])

    def view(monitor_id: str) -> dict[str, Any]:
        body: dict[str, Any] = client.get(f"/v1/monitors/{monitor_id}").json()
        return body

    monitor_id = create("How do context managers work in Python?")

    def monitor() -> dict[str, Any]:
        return view(monitor_id)

    wait_for(lambda: len(monitor().get("runs", [])) >= 2, what="two slots to fire")
    for name in ("orchestrator", "orchestrator#2"):
        replicated_stack.kill(name)
    replicated_stack.wait_healthy(timeout_s=120)
    wait_for(lambda: len(monitor()["runs"]) >= 4, what="slots to keep firing after the restart")
    r = client.http.post(f"/v1/monitors/{monitor_id}/pause", headers=auth)
    assert r.status_code == 202
    wait_for(lambda: monitor()["status"] == "paused", what="the pause")
    # A sentinel on the same schedule stays active: each two of its slots span more than an
    # interval, through which the paused monitor must fire nothing.
    sentinel_id = create("What does asyncio.gather do?")

    def sentinel_fired(slots: int) -> bool:
        return len(view(sentinel_id).get("runs", [])) >= slots

    wait_for(lambda: sentinel_fired(2), what="two slots of the sentinel")  # a firing under way lands
    fired = monitor()["runs"]
    wait_for(lambda: sentinel_fired(4), what="two more slots of the sentinel")
    assert monitor()["runs"] == fired
    assert client.http.post(f"/v1/monitors/{sentinel_id}/pause", headers=auth).status_code == 202

    slots = Counter(f["slot"] for f in fired)
    assert max(slots.values()) == 1, slots
    run_ids = [f["run_id"] for f in fired]
    assert len(set(run_ids)) == len(run_ids)
    listed = {r["run_id"] for r in client.get("/v1/runs?limit=200").json()["runs"]}
    assert set(run_ids) <= listed, "every firing is an ordinary run of the tenant"

    def settled(run_id: str) -> bool:
        return bool(client.run(run_id)["cost"]["closed"] and client.run(run_id)["state"] in TERMINAL)

    for run_id in run_ids:
        wait_for(functools.partial(settled, run_id), what=f"run {run_id} to end")
    views = [client.run(run_id) for run_id in run_ids]
    assert all(v["monitor_id"] == monitor_id for v in views)
    completed = [v for v in views if v["state"] == "completed"]
    assert len(completed) >= 2, [v["state"] for v in views]
    second = completed[1]["run_id"]
    md = client.get(f"/v1/runs/{second}/report.md").text
    assert "## What changed since the previous run" in md

    assert client.http.post(f"/v1/monitors/{monitor_id}/pause", headers=auth).status_code == 409
    assert client.http.delete(f"/v1/monitors/{monitor_id}", headers=auth).status_code == 202
    wait_for(lambda: client.get(f"/v1/monitors/{monitor_id}").status_code == 404, what="the deletion")
    client.close()
