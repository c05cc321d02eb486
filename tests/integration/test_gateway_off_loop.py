"""The gateway's store calls run off its event loop (issue 11, item 1): while one request's query
waits on PostgreSQL (a table lock held elsewhere), the gateway keeps answering others, its
liveness probe (which queries the store itself) included."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest

from services.gateway.bootstrap import build as build_gateway
from services.gateway.settings import GatewaySettings
from tests.support.gateway import asgi_client
from tests.support.polling import eventually

pytestmark = pytest.mark.infra

PROMPT_S = 2.0  # an answer that does not wait for the lock (generous: a loaded machine)
LOCK_HELD_S = 8.0


@pytest.fixture
async def gateway(nats_url: str, database_url: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    prefix = f"l{uuid.uuid4().hex[:8]}"
    settings = GatewaySettings(
        data_dir=tmp_path / "gateway", nats_url=nats_url, database_url=database_url, db_schema_prefix=prefix
    )
    async with asgi_client(build_gateway(settings), timeout_s=60) as http:
        yield http, f"{prefix}_gateway"


async def test_a_query_waiting_on_a_lock_holds_up_its_own_request_only(
    gateway: tuple[httpx.AsyncClient, str], database_url: str
) -> None:
    http, schema = gateway
    name = f"t{uuid.uuid4().hex[:8]}"
    r = await http.post(
        "/v1/auth/signup", json={"email": f"{name}@example.com", "password": "long-enough-1", "tenant_name": name}
    )
    assert r.status_code == 201, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await http.get("/v1/runs", headers=headers)).status_code == 200

    with psycopg.connect(database_url) as blocker:
        blocker.execute(f'LOCK TABLE "{schema}".runs IN ACCESS EXCLUSIVE MODE')  # held until the commit below
        locked_at = time.monotonic()
        waiting = asyncio.create_task(http.get("/v1/runs", headers=headers))
        table = f'"{schema}".runs'
        await eventually(
            lambda: asyncio.to_thread(lock_waiters, database_url, table), 10, "a query waiting on the lock"
        )
        assert not waiting.done(), "the run list should wait for the lock"
        answered: list[float] = []
        while time.monotonic() - locked_at < LOCK_HELD_S - 1:
            for path in ("/healthz", "/v1/auth/me"):
                started = time.monotonic()
                answer = await asyncio.wait_for(http.get(path, headers=headers), timeout=LOCK_HELD_S)
                answered.append(time.monotonic() - started)
                assert answer.status_code == 200, (path, answer.text)
            assert not waiting.done(), "the lock is still held"
            await asyncio.sleep(0.2)
        assert max(answered) < PROMPT_S, f"requests waited on another's query: {max(answered):.2f}s"
        blocker.commit()
    listed = await asyncio.wait_for(waiting, timeout=30)
    assert listed.status_code == 200
    assert time.monotonic() - locked_at >= LOCK_HELD_S - 1
    print(f"{len(answered)} requests answered in at most {max(answered) * 1000:.0f} ms while one waited on a lock")


def lock_waiters(database_url: str, table: str) -> int:
    """How many queries wait for a lock on `table`."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass", (table,))
        return int(row.fetchone()[0])  # type: ignore[index]
