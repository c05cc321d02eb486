"""Liveness and readiness: each check with an injected clock, and a blocked loop seen from a thread."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx

from quarry_runtime.health import (
    CheckRunner,
    ConsumerProgress,
    Health,
    HealthServer,
    LoopWatch,
    health_app,
    store_check,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def health(clock: Clock, checks: CheckRunner | None = None, consumers: ConsumerProgress | None = None) -> Health:
    return Health(
        service="svc",
        loop=LoopWatch(interval_s=0.5, clock=clock),
        checks=checks or CheckRunner({}, clock=clock),
        consumers=consumers,
        loop_block_s=5.0,
        check_grace_s=30.0,
        stall_s=60.0,
    )


def test_a_loop_whose_heartbeat_is_late_past_the_limit_fails_liveness() -> None:
    clock = Clock()
    h = health(clock)
    clock.now += 5.0  # 4.5 s late: under the limit
    assert h.liveness()[0]
    clock.now += 1.0
    ok, body = h.liveness()
    assert not ok
    assert "event loop blocked for 5.5s" in str(body["reasons"])
    assert not h.readiness()[0]
    h.loop.beat()
    assert h.liveness()[0]


async def test_a_failing_store_fails_readiness_at_once_and_liveness_only_after_the_grace() -> None:
    clock = Clock()
    up = True

    async def store() -> bool:
        if not up:
            raise ConnectionError("the connection is lost")
        return True

    checks = CheckRunner({"store": store}, clock=clock)
    h = health(clock, checks)
    await checks.run_once()
    h.loop.beat()
    assert h.liveness()[0] and h.readiness()[0]
    up = False
    await checks.run_once()
    ok, body = h.readiness()
    assert not ok and body["checks"] == {"store": False}
    assert "ConnectionError: the connection is lost" in str(body["reasons"])
    clock.now += 29.0
    h.loop.beat()
    await checks.run_once()
    assert h.liveness()[0]  # within the grace: a restart would not help yet
    clock.now += 2.0
    h.loop.beat()
    await checks.run_once()
    ok, body = h.liveness()
    assert not ok and "store failing for 31s (grace 30s)" in str(body["reasons"])
    up = True
    await checks.run_once()
    assert h.liveness()[0] and h.readiness()[0]


async def test_a_check_that_hangs_counts_as_failing() -> None:
    async def hangs() -> bool:
        await asyncio.sleep(10)
        return True

    checks = CheckRunner({"store": hangs}, timeout_s=0.05)
    await checks.run_once()
    assert checks.states["store"].detail == "no answer within 0.05s"


def test_a_consumer_without_an_ack_for_longer_than_the_threshold_is_stalled() -> None:
    clock = Clock()
    progress = ConsumerProgress(clock)
    h = health(clock, consumers=progress)
    progress.delivered("timers")
    progress.settled("timers", acked=False)  # nacked: it will be redelivered
    for _ in range(5):
        clock.now += 10
        h.loop.beat()
        progress.delivered("timers")
        progress.settled("timers", acked=False)
    assert h.liveness()[0]
    clock.now += 11
    h.loop.beat()
    ok, body = h.liveness()
    assert not ok and body["reasons"] == ["consumer timers: messages waiting without an ack for 61s"]
    assert h.readiness()[0]  # still serving what it can: not a reason to leave rotation
    progress.delivered("timers")
    progress.settled("timers", acked=True)
    assert h.liveness()[0]


def test_an_ack_while_another_message_is_in_hand_restarts_the_wait() -> None:
    clock = Clock()
    progress = ConsumerProgress(clock)
    progress.delivered("c")
    progress.delivered("c")  # this one hangs
    clock.now += 50
    progress.settled("c", acked=True)
    clock.now += 50
    assert progress.stalled(60) == {}
    clock.now += 11
    assert progress.stalled(60) == {"c": 61}
    assert ConsumerProgress(clock).stalled(0) == {}  # an idle consumer is never stalled


async def test_a_blocked_event_loop_fails_liveness_from_the_probe_thread() -> None:
    h = Health(service="svc", loop=LoopWatch(interval_s=0.1), checks=CheckRunner({}), loop_block_s=0.5, stall_s=60.0)
    server = HealthServer(h, 0)
    await server.start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        assert (await asyncio.to_thread(httpx.get, f"{url}/livez", timeout=2)).status_code == 200
        seen: list[httpx.Response] = []

        def probe() -> None:
            time.sleep(1.2)
            seen.append(httpx.get(f"{url}/livez", timeout=2))
            seen.append(httpx.get(f"{url}/healthz", timeout=2))

        thread = threading.Thread(target=probe)
        thread.start()
        # A handler blocking the loop is what is tested: it stays blocked until both probes were
        # answered, however slowly a loaded machine answers them.
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert [r.status_code for r in seen] == [503, 503]
        assert "event loop blocked" in seen[0].json()["reasons"][0]
        await asyncio.sleep(0.3)
        assert (await asyncio.to_thread(httpx.get, f"{url}/livez", timeout=2)).status_code == 200
        ready = await asyncio.to_thread(httpx.get, f"{url}/readyz", timeout=2)
        assert ready.status_code == 200 and ready.json()["status"] == "ok"
    finally:
        await server.stop()


async def test_a_readiness_only_check_never_fails_liveness() -> None:
    clock = Clock()

    async def corpus() -> bool:
        return False  # still indexing

    checks = CheckRunner({"corpus": corpus}, clock=clock)
    h = health(clock, checks)
    h.readiness_only = frozenset({"corpus"})
    await checks.run_once()
    clock.now += 600
    h.loop.beat()
    assert h.liveness()[0]
    ok, body = h.readiness()
    assert not ok and body["reasons"] == ["corpus: failed"]


async def test_a_store_check_runs_the_ping_off_the_loop() -> None:
    loop_thread = threading.get_ident()
    ran_on: list[int] = []

    def ping() -> None:
        ran_on.append(threading.get_ident())
        raise ConnectionError("the connection is closed")

    checks = CheckRunner({"store": store_check(ping)})
    await checks.run_once()
    assert ran_on and ran_on[0] != loop_thread
    assert checks.states["store"].detail == "ConnectionError: the connection is closed"


async def test_the_health_app_answers_metrics_and_unknown_paths_as_the_probes_expect() -> None:
    h = Health(service="svc", loop=LoopWatch(), checks=CheckRunner({}))
    transport = httpx.ASGITransport(app=health_app(h))
    async with httpx.AsyncClient(transport=transport, base_url="http://health") as client:
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"] == "text/plain; version=0.0.4"
        assert b"python_info" in metrics.content
        missing = await client.get("/nope")
        assert (missing.status_code, missing.json()) == (404, {"detail": "not found"})
        live = await client.get("/healthz")
        assert live.status_code == 200 and live.json()["service"] == "svc"
