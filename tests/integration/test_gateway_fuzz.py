"""Schema fuzzing of every gateway route (schemathesis): the real gateway, billing and policy on a
real NATS, served by uvicorn, called anonymously and as the owners of two tenants; no input the
OpenAPI document allows may produce a server error. A fixed seed makes the main pass reproducible;
a second, smaller pass with a fresh seed explores further within a bounded budget."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import nats
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup

from contracts import subjects
from quarry_runtime.service import run
from services.billing.bootstrap import BillingSettings
from services.billing.bootstrap import build as build_billing
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.bootstrap import build as build_gateway
from services.gateway.settings import GatewaySettings
from services.policy.bootstrap import PolicySettings
from services.policy.bootstrap import build as build_policy

pytestmark = pytest.mark.infra

JWT_SECRET = "a-fuzzing-test-jwt-secret-of-32-bytes!!"
SEED = 20261206
FIXED_EXAMPLES = 8  # per route, the same every run
RANDOM_EXAMPLES = 3  # per route, new every run
# The second pass's seed: new each run unless given, and named in any failure so it can be replayed.
FRESH_SEED = int(os.environ.get("QUARRY_FUZZ_SEED") or secrets.randbelow(2**32))


def _schema(examples: int, seed: int) -> Any:
    """The document as the app serves it (built without connecting to anything), fuzzed with valid and
    invalid inputs and the boundary values of every bound."""
    config: dict[str, Any] = {"seed": seed, "generation": {"mode": "all", "max-examples": examples}}
    document = create_app(cast(Components, None)).openapi()
    return schemathesis.openapi.from_dict(document, config=SchemathesisConfig.from_dict(config))


fixed = _schema(FIXED_EXAMPLES, SEED)
fresh = _schema(RANDOM_EXAMPLES, FRESH_SEED)


class Stack:
    """Gateway (uvicorn, lifespan on), billing and policy on one event loop in a thread."""

    def __init__(self, nats_url: str, data_dir: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        update = {"nats_url": nats_url}
        self.gateway = GatewaySettings(
            data_dir=data_dir / "gateway", jwt_secret=JWT_SECRET, environment="development"
        ).model_copy(update=update)
        # A local stack: development, billing's checkout mocked (unknown settings are ignored until they exist).
        local: dict[str, Any] = {"environment": "development", "billing_mode": "mock"}
        self.billing = BillingSettings(data_dir=data_dir / "billing", **local).model_copy(update=update)
        self.policy = PolicySettings(data_dir=data_dir / "policy", **local).model_copy(update=update)
        app = build_gateway(self.gateway)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.failed: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
            await asyncio.gather(
                run(build_billing(self.billing), self.billing, self.stop),
                run(build_policy(self.policy), self.policy, self.stop),
                self.server.serve(),
            )

        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - reported by the fixture
            self.failed = exc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Stack:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self._answering():
            assert self.failed is None, f"the stack did not start: {self.failed!r}"
            assert time.monotonic() < deadline, "the stack did not answer within 60 s"
            time.sleep(0.2)
        return self

    def _answering(self) -> bool:
        if not self.server.started:
            return False
        try:
            r = httpx.get(f"{self.url}/healthz", timeout=2)
        except httpx.HTTPError:
            return False
        return r.status_code == 200 and self._responders()

    def _responders(self) -> bool:
        """Billing and policy answer over the bus once subscribed: ask each once."""

        async def ask() -> bool:
            nc = await nats.connect(self.gateway.nats_url)
            try:
                for subject in (subjects.BILLING_LEDGER, subjects.POLICY_VERSIONS):
                    await nc.request(subject, b"{}", timeout=1)
            except Exception:  # noqa: BLE001 - not subscribed yet
                return False
            finally:
                await nc.close()
            return True

        return asyncio.run(ask())

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        if self.loop is not None and self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=30)


# Each caller's name and the headers it sends.
Callers = dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def stack(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(nats_url, tmp_path_factory.mktemp("fuzz")) as running:
        yield running


@pytest.fixture(scope="module")
def callers(stack: Stack) -> Iterator[Callers]:
    """Headers of each caller the fuzzing rotates through: nobody, and the owners of two tenants."""
    found: dict[str, dict[str, str]] = {"anonymous": {}}
    for name in ("fuzz-a", "fuzz-b"):
        r = httpx.post(
            f"{stack.url}/v1/auth/signup",
            json={"email": f"owner@{name}.example", "password": "a-long-passphrase-9", "tenant_name": name},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        found[name] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    yield found


_turns = itertools.count()


def _call(case: Any, stack: Stack, callers: Callers, seed: int) -> None:
    names = sorted(callers)
    who = names[next(_turns) % len(names)]
    # Schemathesis also makes up Authorization headers: the anonymous caller sends those, the owners their own.
    headers = {**(case.headers or {}), **callers[who]}
    response = case.call(base_url=stack.url, headers=headers, timeout=30)
    try:
        case.validate_response(response, checks=[not_a_server_error])
    except (AssertionError, FailureGroup) as exc:
        raise AssertionError(f"{exc}\n(as {who}, seed {seed}; QUARRY_FUZZ_SEED={seed} replays the fresh pass)") from exc


# Both passes: no deadline on a call over HTTP, and the schema's many filtered strategies are fine.
PASS_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@fixed.parametrize()  # type: ignore[untyped-decorator]  # schemathesis types it a bare Callable
@PASS_SETTINGS
def test_no_route_answers_a_server_error_fixed_seed(case: Any, stack: Stack, callers: Callers) -> None:
    _call(case, stack, callers, SEED)


@fresh.parametrize()  # type: ignore[untyped-decorator]  # schemathesis types it a bare Callable
@PASS_SETTINGS
def test_no_route_answers_a_server_error_fresh_seed(case: Any, stack: Stack, callers: Callers) -> None:
    _call(case, stack, callers, FRESH_SEED)
