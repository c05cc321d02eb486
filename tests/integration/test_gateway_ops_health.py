"""The consumers' lag trend and the services' health on a real JetStream, each process as its own
NATS user: samples accumulate every slot and the trend answers them oldest first; two gateway
replicas sampling the same slot store one sample; a service instance killed goes stale, the one
started after it counts as a restart, and one stopped cleanly says so; every route audited and
refused to tenants like the other ops routes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig
from prometheus_client import REGISTRY

from contracts import subjects
from services.gateway.application.ops_health import HealthParts
from services.gateway.bootstrap import build as build_gateway
from services.gateway.domain.lag_trend import slot_of
from services.gateway.settings import GatewaySettings
from tests.integration.test_gateway_ops import components
from tests.servers import PrivateNats
from tests.support.gateway import asgi_client
from tests.support.gateway_on_nats import gateway_as_itself
from tests.support.operators import REPO
from tests.support.people import Person, granted, sign_up
from tests.support.polling import eventually

pytestmark = pytest.mark.infra

PROBED = subjects.POLICY_REJECTED  # no consumer of the gateway's reads it
INTERVAL_S = 1.0
BEAT_S = 0.5


@pytest.fixture
def gateway_settings(server: PrivateNats, tmp_path: Path) -> GatewaySettings:
    return gateway_as_itself(
        server, tmp_path / "gateway", lag_sample_interval_s=INTERVAL_S, heartbeat_interval_s=BEAT_S
    )


def health_of(app: FastAPI) -> HealthParts:
    parts = components(app).ops_health
    assert parts is not None
    return parts


async def behind_consumer(admin: Client, published: int) -> str:
    """A durable consumer of the event stream that took one message of `published` and acked none."""
    js = admin.jetstream()
    durable = f"ops-trend-{uuid.uuid4().hex[:6]}"
    await js.add_consumer(
        subjects.STREAM, ConsumerConfig(durable_name=durable, filter_subject=PROBED, ack_policy=AckPolicy.EXPLICIT)
    )
    for n in range(published):
        await js.publish(PROBED, json.dumps({"n": n}).encode())
    taken = await js.pull_subscribe_bind(durable, subjects.STREAM)
    await taken.fetch(1, timeout=5)
    return durable


def at(point: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(point["at"].replace("Z", "+00:00"))


async def test_samples_accumulate_every_slot_and_the_trend_answers_them_oldest_first(
    gateway: httpx.AsyncClient, gateway_app: FastAPI, gateway_settings: GatewaySettings, admin: Client, tmp_path: Path
) -> None:
    durable = await behind_consumer(admin, published=4)
    operator = await granted(gateway, gateway_settings, tmp_path, "platform_operator")
    path = f"/v1/ops/consumers/{subjects.STREAM}/{durable}/trend"

    async def three_samples() -> dict[str, Any] | None:
        r = await operator.get(path)
        assert r.status_code == 200, r.text  # before its first sample too: the consumer exists
        body: dict[str, Any] = r.json()
        return body if body["sampled"] >= 3 else None

    trend = await eventually(three_samples, 20, "three lag samples of the consumer")
    points = trend["points"]
    assert trend["interval_s"] == INTERVAL_S and trend["window_s"] == 3600 and len(points) == trend["sampled"]
    assert [at(p) for p in points] == sorted(at(p) for p in points)
    assert len({slot_of(at(p), INTERVAL_S) for p in points}) == len(points)  # one per slot
    for point in points:
        assert (point["pending"], point["ack_pending"]) == (3, 1)
        assert point["lag_s"] is not None and point["lag_s"] > 0
    assert points[-1]["lag_s"] > points[0]["lag_s"]  # the owed message only gets older

    # The lag the gateway exports is per declared consumer only: a durable made by hand is no series.
    owed = {
        (sample.labels["stream"], sample.labels["consumer"])
        for metric in REGISTRY.collect()
        if metric.name == "quarry_consumer_owed_seconds"
        for sample in metric.samples
    }
    assert (subjects.STREAM, "gateway-runs") in owed and not any(durable == c for _, c in owed)

    thinned = (await operator.get(f"{path}?points=2")).json()
    assert len(thinned["points"]) == 2 and thinned["sampled"] >= 3

    # A consumer that does not exist and was never sampled; bounds outside the route's own.
    assert (await operator.get(f"/v1/ops/consumers/{subjects.STREAM}/nobody/trend")).status_code == 404
    assert (await operator.get(f"/v1/ops/consumers/NOSTREAM/{durable}/trend")).status_code == 404
    for query in ("window_s=59", "window_s=86401", "points=1", "points=501", "window_s=x"):
        assert (await operator.get(f"{path}?{query}")).status_code == 422, query
    assert (await operator.get(f"/v1/ops/consumers/{subjects.STREAM}/a.b/trend")).status_code == 422

    reads = components(gateway_app).store.platform_audit.entries(kind="ops.read")
    assert {e["target"] for e in reads} == {"GET /v1/ops/consumers/{stream}/{name}/trend"}
    assert {e["actor"]["name"] for e in reads} == {operator.email}


async def test_two_replicas_sampling_the_same_slot_store_one_sample(
    gateway: httpx.AsyncClient, gateway_app: FastAPI, server: PrivateNats, admin: Client, tmp_path: Path
) -> None:
    durable = await behind_consumer(admin, published=2)
    other = build_gateway(
        gateway_as_itself(server, tmp_path / "replica", lag_sample_interval_s=INTERVAL_S, heartbeat_interval_s=0)
    )
    async with asgi_client(other):
        first, second = health_of(gateway_app).sampler, health_of(other).sampler
        slot = slot_of(datetime.now().astimezone(), INTERVAL_S) + 10_000  # a slot no running sampler reaches
        stored, duplicates = await first.sample(slot)
        again_stored, again_duplicates = await second.sample(slot)
        assert stored > 0 and duplicates == 0
        assert (again_stored, again_duplicates) == (0, stored)

        # Both replicas running side by side for a few slots: still one sample per slot.
        await asyncio.sleep(4 * INTERVAL_S)
    js = admin.jetstream()
    subject = subjects.lag_sample(subjects.STREAM, durable)
    kept = (await js.stream_info(subjects.LAG_STREAM, subjects_filter=subject)).state.subjects or {}
    ids = []
    seq = 0
    for _ in range(kept.get(subject, 0)):
        message = await js.get_msg(subjects.LAG_STREAM, seq=seq + 1, next=True, subject=subject)
        seq = int(message.seq or 0)
        ids.append((message.headers or {})["Nats-Msg-Id"])
    assert len(ids) >= 4 and len(ids) == len(set(ids))
    assert f"lag.{subjects.STREAM}.{durable}.{slot}" in ids


@pytest.fixture
def reporter_env(server: PrivateNats, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUARRY_", "NATS_", "DATABASE_URL"))}
    env.update(
        PYTHONPATH=str(REPO),
        NATS_URL=server.url,
        QUARRY_NATS_USER="reporter",
        QUARRY_NATS_PASSWORD=server.passwords["reporter"],
        QUARRY_DATA_DIR=str(tmp_path / "reporter"),
        QUARRY_ENVIRONMENT="test",
        QUARRY_HEARTBEAT_INTERVAL_S=str(BEAT_S),
        QUARRY_HEALTH_PORT="0",
    )
    return env


@pytest.fixture
async def started() -> AsyncIterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def reporter(env: dict[str, str], processes: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "services.reporter"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    processes.append(process)
    return process


async def test_a_killed_instance_goes_stale_its_replacement_is_a_restart_and_a_clean_stop_says_so(
    gateway: httpx.AsyncClient,
    gateway_settings: GatewaySettings,
    reporter_env: dict[str, str],
    started: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    operator = await granted(gateway, gateway_settings, tmp_path, "platform_operator")

    async def reporter_service() -> dict[str, Any]:
        r = await operator.get("/v1/ops/services")
        assert r.status_code == 200, r.text
        by_name = {s["service"]: s for s in r.json()["services"]}
        assert set(by_name) >= {"gateway", "orchestrator", "billing", "policy", "retriever", "analyst", "reporter"}
        found: dict[str, Any] = by_name["reporter"]
        return found

    async def reporter_is(check: Any) -> dict[str, Any] | None:
        found = await reporter_service()
        return found if check(found) else None

    # The gateway beats too, from its own lifespan.
    gateway_row = {s["service"]: s for s in (await operator.get("/v1/ops/services")).json()["services"]}["gateway"]
    assert gateway_row["state"] == "up" and gateway_row["alive"] == 1

    first = reporter(reporter_env, started)
    up = await eventually(lambda: reporter_is(lambda s: s["alive"] == 1), 30, "the first reporter's heartbeat")
    assert (up["state"], up["starts"], up["restarts"]) == ("up", 1, 0)
    first_id = up["instances"][0]["instance"]
    assert up["instances"][0]["interval_s"] == BEAT_S and up["instances"][0]["version"]

    first.send_signal(signal.SIGKILL)  # a crash: no farewell
    first.wait(timeout=10)
    down = await eventually(lambda: reporter_is(lambda s: s["state"] == "down"), 30, "the killed reporter gone stale")
    assert [(i["instance"], i["state"]) for i in down["instances"]] == [(first_id, "stale")]
    assert (down["alive"], down["gone"], down["restarts"]) == (0, 1, 0)

    second = reporter(reporter_env, started)
    again = await eventually(lambda: reporter_is(lambda s: s["alive"] == 1), 30, "the second reporter's heartbeat")
    assert (again["starts"], again["gone"], again["restarts"], again["state"]) == (2, 1, 1, "up")
    assert again["instances"][1]["instance"] == first_id and again["instances"][0]["state"] == "alive"

    second.send_signal(signal.SIGTERM)  # a clean stop: its last heartbeat says so
    assert await asyncio.to_thread(second.wait, 30) == 0
    stopped = await eventually(lambda: reporter_is(lambda s: s["alive"] == 0), 10, "the stopped reporter")
    assert [i["state"] for i in stopped["instances"]] == ["stopped", "stale"]
    assert stopped["instances"][0]["health"] == "stopped" and stopped["restarts"] == 1

    assert (await operator.get("/v1/ops/services?window_s=59")).status_code == 422
    assert (await operator.get("/v1/ops/services?window_s=86401")).status_code == 422


async def test_a_tenant_owner_is_refused_the_health_routes_and_an_anonymous_caller_is_asked_to_sign_in(
    gateway: httpx.AsyncClient,
) -> None:
    person: Person = await sign_up(gateway)
    for path in ("/v1/ops/services", f"/v1/ops/consumers/{subjects.STREAM}/gateway-runs/trend"):
        assert (await person.get(path)).status_code == 403
        assert (await gateway.get(path)).status_code == 401
