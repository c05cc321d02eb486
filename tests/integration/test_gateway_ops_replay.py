"""A replay from the operators' console: on a real JetStream, the gateway connected as its own
NATS user and reading the stream as the `ops` user, a platform admin starts `quarry replay`'s
comparison over the API, reads its report (identical, then a difference made on purpose), is
told 409 while one runs, and sees a replay whose gateway died read as abandoned."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from quarry_runtime.bus import Bus
from services.gateway.api.deps import Components
from services.gateway.application.replay import Models
from services.gateway.application.replay_jobs import prefix_of
from services.gateway.settings import GatewaySettings
from tests.servers import PrivateNats
from tests.support.gateway_on_nats import gateway_as_itself
from tests.support.people import granted
from tests.support.polling import eventually
from tests.support.runs_fixture import gateway_events, generate

pytestmark = pytest.mark.infra


@pytest.fixture
def gateway_settings(server: PrivateNats, tmp_path: Path) -> GatewaySettings:
    return gateway_as_itself(server, tmp_path / "gateway")


async def _report(gateway: httpx.AsyncClient, headers: dict[str, str], replay_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def ended() -> bool:
        r = await gateway.get(f"/v1/ops/replays/{replay_id}", headers=headers)
        assert r.status_code == 200, r.text
        found.update(r.json())
        return bool(found["state"] != "running")

    await eventually(ended, 60, "the replay's report", every_s=0.2)
    return found


async def test_a_platform_admin_replays_the_log_from_the_console(
    gateway: httpx.AsyncClient, gateway_app: Any, gateway_settings: GatewaySettings, server: PrivateNats, tmp_path: Path
) -> None:
    parts: Components = gateway_app.state.components
    fixture = generate(3, seed=41)
    publisher = Bus(server.admin_url, "test")
    await publisher.start()
    try:
        for event in gateway_events(fixture):
            await publisher.publish(event)
    finally:
        await publisher.stop()

    async def projected() -> bool:
        rows = await asyncio.to_thread(parts.store.run_rows)
        return all(r in rows and rows[r]["state"] == "completed" for r in fixture.run_ids)

    await eventually(projected, 60, "the runs in the live views", every_s=0.2)
    headers = (await granted(gateway, gateway_settings, tmp_path, "platform_admin")).headers

    started = await gateway.post("/v1/ops/replays", headers=headers)
    assert started.status_code == 202, started.text
    assert started.json()["state"] == "running" and started.json()["last_seq"] > 0
    report = await _report(gateway, headers, started.json()["replay_id"])
    assert report["state"] == "identical", report
    assert report["report"]["runs_rebuilt"] == report["report"]["runs_live"] >= 3
    assert report["report"]["messages"] == report["messages"] > 0
    leftovers = await asyncio.to_thread(
        parts.store.db.query, "SELECT name FROM sqlite_master WHERE name LIKE 'replay_%'"
    )
    assert leftovers == []  # the rebuilt tables are dropped

    # A live view that drifted from the log: the replay names the run and the field.
    drifted = fixture.run_ids[0]
    await asyncio.to_thread(parts.store.db.execute, "UPDATE runs SET state = ? WHERE run_id = ?", ("failed", drifted))
    again = await gateway.post("/v1/ops/replays", headers=headers)
    assert again.status_code == 202, again.text
    report = await _report(gateway, headers, again.json()["replay_id"])
    assert report["state"] == "different" and report["report"]["difference_count"] >= 1
    assert any(drifted in line and "state" in line for line in report["report"]["differences"])
    listed = (await gateway.get("/v1/ops/replays", headers=headers)).json()["replays"]
    assert [r["replay_id"] for r in listed[:2]] == [again.json()["replay_id"], started.json()["replay_id"]]

    # One at a time: a replay running (as another replica's would be) refuses a second ...
    busy = uuid.uuid4().hex
    assert await asyncio.to_thread(parts.store.replays.start, busy, "someone@example.com", 1, 2) is None
    refused = await gateway.post("/v1/ops/replays", headers=headers)
    assert refused.status_code == 409 and busy in refused.text
    # ... until it is silent too long: its gateway died, it is abandoned and blocks nothing.
    await asyncio.to_thread(
        parts.store.db.execute,
        "UPDATE ops_replays SET updated_at = ? WHERE replay_id = ?",
        ("2020-01-01T00:00:00+00:00", busy),
    )
    assert (await gateway.get(f"/v1/ops/replays/{busy}", headers=headers)).json()["state"] == "abandoned"
    # The dead replay's tables (as its rebuild had made them) go with the next replay's start.
    await asyncio.to_thread(Models.open, parts.store.db, prefix_of(busy))
    left_by_busy = f"SELECT name FROM sqlite_master WHERE name LIKE '{prefix_of(busy)}%'"
    assert await asyncio.to_thread(parts.store.db.query, left_by_busy) != []
    assert (await gateway.post("/v1/ops/replays", headers=headers)).status_code == 202
    assert await asyncio.to_thread(parts.store.db.query, left_by_busy) == []
    assert (await asyncio.to_thread(parts.store.replays.get, busy) or {})["state"] == "abandoned"
    assert (await gateway.get(f"/v1/ops/replays/{'f' * 32}", headers=headers)).status_code == 404
    audit = await asyncio.to_thread(parts.store.platform_audit.newest, kind="ops.replay.started")
    assert len(audit) == 3
