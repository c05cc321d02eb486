"""Liveness and readiness of a service that serves no other HTTP, plus `/metrics`.

`GET /livez` (and `/healthz`, the same) fails when the process cannot make progress and a
restart is the cure: its event loop is blocked, a dependency check (the store) has failed for
longer than its grace period, or a durable consumer has had messages waiting without an ack for
several ack waits. `GET /readyz` fails as soon as a dependency is down, without waiting out the
grace: take the replica out of rotation, do not restart it.

Every verdict is read from timestamps the event loop records (a heartbeat, the last result of
each check, the consumers' last ack), and the ASGI app is served by uvicorn on its own thread and
event loop: a blocked loop cannot answer for itself, so the thread judges it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quarry_runtime.cancelling import cancel_and_wait
from quarry_runtime.exposition import ThreadServer, metrics

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[bool]]
Clock = Callable[[], float]


class LoopWatch:
    """The event loop's heartbeat: `beat()` runs on the loop, `blocked_for()` is read anywhere."""

    def __init__(self, interval_s: float = 0.5, clock: Clock = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._last = clock()

    def beat(self) -> None:
        self._last = self._clock()

    def blocked_for(self) -> float:
        """How long past its due time the heartbeat is: the loop's current lag."""
        return max(0.0, self._clock() - self._last - self.interval_s)

    async def run(self) -> None:
        while True:
            self.beat()
            await asyncio.sleep(self.interval_s)


@dataclass
class CheckState:
    """The last verdict of one dependency check, and since when it has been failing."""

    ok: bool = False
    failing_since: float | None = None
    detail: str = "not checked yet"


class CheckRunner:
    """Runs each dependency check on the loop every `interval_s` and remembers the results."""

    def __init__(
        self,
        checks: dict[str, Check],
        *,
        interval_s: float = 2.0,
        timeout_s: float = 2.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.checks = checks
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._clock = clock
        started = clock()
        # A check not run yet counts as failing from start-up, so the grace covers the start too.
        self.states = {name: CheckState(failing_since=started) for name in checks}

    async def run_once(self) -> None:
        for name, check in self.checks.items():
            state = self.states[name]
            try:
                ok, detail = bool(await asyncio.wait_for(check(), timeout=self.timeout_s)), "failed"
            except TimeoutError:
                ok, detail = False, f"no answer within {self.timeout_s:g}s"
            except Exception as exc:  # noqa: BLE001 - a failing check is reported, not raised
                ok, detail = False, f"{type(exc).__name__}: {str(exc)[:200]}"
            if ok:
                state.ok, state.failing_since, state.detail = True, None, "ok"
            else:
                if state.failing_since is None:
                    state.failing_since = self._clock()
                state.ok, state.detail = False, detail

    async def run(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.interval_s)

    def failing_for(self, name: str) -> float:
        since = self.states[name].failing_since
        return 0.0 if since is None else self._clock() - since


class ConsumerProgress:
    """Per durable consumer: since when it has held a delivered message without acking any.

    The bus calls `delivered` when a handler takes a message and `settled` when it is done with
    it (`acked` says whether the message left the consumer: acked or dead-lettered, not nacked
    for redelivery). A consumer is stalled when it has had messages in hand or nacked for
    redelivery, and no ack at all, for longer than the threshold: a hung handler, or a message
    redelivered again and again.
    """

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._waiting_since: dict[str, float] = {}
        self._in_hand: dict[str, int] = {}

    def delivered(self, durable: str) -> None:
        self._in_hand[durable] = self._in_hand.get(durable, 0) + 1
        self._waiting_since.setdefault(durable, self._clock())

    def settled(self, durable: str, *, acked: bool) -> None:
        self._in_hand[durable] = max(0, self._in_hand.get(durable, 0) - 1)
        if not acked:
            return  # nacked: it comes back, the consumer still waits on it
        if self._in_hand[durable]:
            self._waiting_since[durable] = self._clock()  # progress; the others still wait
        else:
            self._waiting_since.pop(durable, None)

    def stalled(self, threshold_s: float) -> dict[str, float]:
        """The consumers without an ack for longer than `threshold_s`, with how long."""
        now = self._clock()
        return {d: now - since for d, since in list(self._waiting_since.items()) if now - since > threshold_s}


@dataclass
class Health:
    """What liveness and readiness are judged from; the verdicts are plain reads, thread-safe."""

    service: str
    loop: LoopWatch
    checks: CheckRunner
    consumers: ConsumerProgress | None = None
    loop_block_s: float = 10.0
    check_grace_s: float = 60.0
    stall_s: float = 300.0
    # Checks only readiness judges: waiting for them (a corpus being indexed) is no reason to restart.
    readiness_only: frozenset[str] = frozenset()

    def liveness(self) -> tuple[bool, dict[str, object]]:
        lag, reasons = self._loop_lag()
        for name, state in self.checks.states.items():
            if name in self.readiness_only:
                continue
            down = self.checks.failing_for(name)
            if down > self.check_grace_s:
                reasons.append(f"{name} failing for {down:.0f}s (grace {self.check_grace_s:g}s): {state.detail}")
        if self.consumers is not None:
            for durable, waited in sorted(self.consumers.stalled(self.stall_s).items()):
                reasons.append(f"consumer {durable}: messages waiting without an ack for {waited:.0f}s")
        return self._verdict("live", reasons, {"loop_lag_s": round(lag, 3)})

    def readiness(self) -> tuple[bool, dict[str, object]]:
        _, reasons = self._loop_lag()
        for name, state in self.checks.states.items():
            if not state.ok:
                reasons.append(f"{name}: {state.detail}")
        return self._verdict("ready", reasons, {})

    def _loop_lag(self) -> tuple[float, list[str]]:
        """How long the event loop has been blocked, with the reason it fails a probe past the limit."""
        lag = self.loop.blocked_for()
        if lag > self.loop_block_s:
            return lag, [f"event loop blocked for {lag:.1f}s (limit {self.loop_block_s:g}s)"]
        return lag, []

    def _verdict(self, kind: str, reasons: list[str], extra: dict[str, object]) -> tuple[bool, dict[str, object]]:
        ok = not reasons
        checks = {name: state.ok for name, state in self.checks.states.items()}
        body: dict[str, object] = {
            "service": self.service,
            "status": "ok" if ok else f"not {kind}",
            "checks": checks,
            "reasons": reasons,
            **extra,
        }
        return ok, body


def store_check(ping: Callable[[], object]) -> Check:
    """A check that runs a store's synchronous `ping` (e.g. `SELECT 1`) off the event loop."""

    async def check() -> bool:
        await asyncio.to_thread(ping)
        return True

    return check


def health_app(health: Health) -> Starlette:
    """/livez (= /healthz), /readyz and /metrics as an ASGI app."""

    def verdict(path: str, judged: tuple[bool, dict[str, object]]) -> Response:
        ok, body = judged
        if not ok:
            log.warning("%s fails: %s", path, body["reasons"])
        return _json(200 if ok else 503, body)

    async def livez(request: Request) -> Response:
        return verdict(request.url.path, health.liveness())

    async def readyz(request: Request) -> Response:
        return verdict(request.url.path, health.readiness())

    async def not_found(_: Request, __: Exception) -> Response:
        return _json(404, {"detail": "not found"})

    return Starlette(
        routes=[
            Route("/livez", livez),
            Route("/healthz", livez),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ],
        exception_handlers={404: not_found, 405: not_found},
    )


def _json(status: int, body: dict[str, object]) -> Response:
    return Response(json.dumps(body), status_code=status, headers={"content-type": "application/json"})


class HealthServer:
    """Serves `health_app` with uvicorn on a thread and event loop of its own."""

    def __init__(self, health: Health, port: int, host: str = "127.0.0.1") -> None:
        self.health = health
        self._http = ThreadServer(health_app(health), port, host, name="health-http")
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def port(self) -> int:
        return self._http.port

    async def start(self) -> None:
        """Start the heartbeat and the checks on the running loop, and the HTTP thread."""
        self._tasks = [
            asyncio.create_task(self.health.loop.run(), name="health-heartbeat"),
            asyncio.create_task(self.health.checks.run(), name="health-checks"),
        ]
        self._http.start()

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        await self._http.stop()
