"""Readiness and liveness of a service whose PostgreSQL store goes away and comes back."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest

from devtools import natsserver
from devtools.pgserver import EphemeralCluster
from quarry_runtime.service import run
from services.policy.bootstrap import PolicySettings, assemble
from tests.support.polling import eventually

pytestmark = pytest.mark.infra


async def test_a_store_down_fails_readiness_at_once_and_liveness_past_the_grace(
    nats_url: str, cluster: EphemeralCluster, tmp_path: Path
) -> None:
    port = natsserver.free_port()
    settings = PolicySettings(
        data_dir=tmp_path,
        database_url=cluster.url,
        db_schema_prefix=f"q{uuid.uuid4().hex[:8]}",
        health_port=port,
        health_check_grace_s=4.0,
    ).model_copy(update={"nats_url": nats_url})
    parts = assemble(settings)
    stop = asyncio.Event()
    service = asyncio.create_task(run(parts.service, settings, stop))

    async def status(path: str) -> tuple[int, dict[str, object]]:
        try:
            r = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}{path}", timeout=2)
        except httpx.HTTPError:
            return 0, {}
        return r.status_code, r.json()

    async def until(path: str, expected: int, what: str, timeout_s: float = 10.0) -> None:
        async def answers() -> bool:
            return (await status(path))[0] == expected

        await eventually(answers, timeout_s, what, every_s=0.1)

    try:
        await until("/readyz", 200, "never ready")
        await asyncio.to_thread(cluster.halt)
        down = time.monotonic()
        await until("/readyz", 503, "readiness ignored the store going away")
        _, body = await status("/readyz")
        assert body["checks"] == {"bus": True, "store": False}
        assert (await status("/healthz"))[0] == 200 or time.monotonic() - down > 3.5  # within the grace
        await until("/healthz", 503, "liveness never failed", timeout_s=12)
        assert time.monotonic() - down > 3.5
        _, body = await status("/healthz")
        assert "store failing for" in str(body["reasons"])
        await asyncio.to_thread(cluster.resume)
        await until("/healthz", 200, "liveness never came back", timeout_s=15)
        await until("/readyz", 200, "readiness never came back")
    finally:
        stop.set()
        await asyncio.wait_for(service, timeout=15)
