"""Abuse limits of the identity routes (gateway in process, SQLite, counters in memory): per
address and per account with Retry-After, and argon2 behind a bounded semaphore."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TypedDict

import pytest

from quarry_security.ratelimit import SlidingWindowLimiter
from services.gateway import guard as guard_module
from services.gateway.errors import Unavailable
from services.gateway.guard import AuthGuard
from services.gateway.settings import GatewaySettings
from tests.support.identity import PASSWORD, Gateway, bearer, gateway, login, signup

__all__ = ["gateway"]  # the fixture

# -- finding 11: limits ----------------------------------------------------------------------------


def test_wrong_passwords_lock_the_account_with_retry_after_even_in_development(gateway: Gateway) -> None:
    http = gateway(environment="development")
    assert signup(http, "ann").status_code == 201
    assert signup(http, "ben").status_code == 201

    for _ in range(5):
        assert login(http, "ann@example.com", "not-her-password").status_code == 401
    locked = login(http, "ann@example.com", PASSWORD)

    assert locked.status_code == 429, "locked: not even the right password is looked at"
    assert 1 <= int(locked.headers["Retry-After"]) <= 900
    assert login(http, "ben@example.com", PASSWORD).status_code == 200, "another account is not locked"
    # An email without an account locks the same way: the lock tells nothing about who exists.
    for _ in range(5):
        assert login(http, "nobody@example.com", "whatever-it-is").status_code == 401
    assert login(http, "nobody@example.com", "whatever-it-is").status_code == 429


def test_the_right_password_clears_the_short_window_but_a_long_run_of_failures_locks_for_the_day(
    gateway: Gateway,
) -> None:
    http = gateway(login_failures_per_account=3, login_failures_per_account_per_day=5)
    assert signup(http, "cat").status_code == 201
    for _ in range(2):
        assert login(http, "cat@example.com", "wrong-password-x").status_code == 401
    assert login(http, "cat@example.com", PASSWORD).status_code == 200
    for _ in range(3):
        assert login(http, "cat@example.com", "wrong-password-x").status_code == 401

    locked = login(http, "cat@example.com", PASSWORD)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 900, "the daily window outlasts the short one"


def test_attempts_per_address_are_bounded_with_retry_after(gateway: Gateway) -> None:
    http = gateway(auth_attempts_per_ip_per_minute=4)
    assert signup(http, "dan").status_code == 201
    for _ in range(3):
        assert login(http, "dan@example.com", PASSWORD).status_code == 200

    refused = login(http, "dan@example.com", PASSWORD)
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    accept = http.post("/v1/auth/accept", json={"invite_token": "qi_whatever", "password": "a-fine-password-9"})
    assert accept.status_code == 429


def test_sign_ups_per_address_per_day_are_bounded(gateway: Gateway) -> None:
    http = gateway(signups_per_ip_per_day=2)
    assert signup(http, "eve").status_code == 201
    assert signup(http, "fay").status_code == 201

    refused = signup(http, "gus")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 3600
    assert login(http, "eve@example.com", PASSWORD).status_code == 200, "log-in is another limit"


def test_bad_api_keys_count_against_the_address(gateway: Gateway) -> None:
    http = gateway(auth_attempts_per_ip_per_minute=4)
    owner = signup(http, "hal").json()["access_token"]  # one attempt
    made = http.post("/v1/keys", json={"name": "ci", "scopes": ["runs:read"]}, headers=bearer(owner))
    assert made.status_code == 201, made.text
    key = made.json()["api_key"]
    for _ in range(10):
        assert http.get("/v1/runs", headers=bearer(key)).status_code == 200, "good keys are not counted"
    for _ in range(2):
        assert http.get("/v1/runs", headers=bearer(key[:-3] + "xyz")).status_code == 401

    refused = http.get("/v1/runs", headers=bearer(key[:-3] + "xyz"))
    assert refused.status_code == 401
    assert http.get("/v1/runs", headers=bearer(key[:-3] + "xyz")).status_code == 429
    assert http.get("/v1/runs", headers=bearer(key)).status_code == 429, "until the window has room again"
    assert http.get("/v1/runs", headers=bearer(owner)).status_code == 200, "access tokens are not API keys"


def test_development_defaults_let_a_test_suite_sign_up_hundreds_production_ones_do_not() -> None:
    dev = GatewaySettings(environment="development")
    prod = GatewaySettings(
        environment="production",
        jwt_secret=f"a-real-secret-of-enough-length-{time.time_ns()}",
        secrets_key=f"another-real-secret-of-enough-length-{time.time_ns()}",
    )
    assert min(dev.ip_limits()) >= 500
    assert prod.ip_limits() == (20, 10)
    assert dev.login_failures_per_account == prod.login_failures_per_account == 5
    assert GatewaySettings(environment="production", **_real(), signups_per_ip_per_day=50).ip_limits()[1] == 50


class Secrets(TypedDict):
    jwt_secret: str
    secrets_key: str


def _real() -> Secrets:
    return {
        "jwt_secret": f"a-real-secret-of-enough-length-{time.time_ns()}",
        "secrets_key": f"another-real-secret-of-enough-length-{time.time_ns()}",
    }


async def test_password_hashing_runs_behind_a_bounded_semaphore(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    running, most = 0, 0
    lock = threading.Lock()

    def slow_hash(password: str) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(10)
        with lock:
            running -= 1
        return "hashed"

    monkeypatch.setattr(guard_module, "hash_password", slow_hash)
    guard = AuthGuard(GatewaySettings(password_hash_concurrency=2, password_hash_wait_s=0.2), SlidingWindowLimiter())
    first = [asyncio.create_task(guard.hash_password("p")) for _ in range(2)]
    await asyncio.sleep(0.05)

    with pytest.raises(Unavailable) as refused:
        await guard.hash_password("p")
    assert refused.value.retry_after_s is not None

    # A caller that goes away does not give its turn back before its hash is done.
    first[0].cancel()
    with pytest.raises(Unavailable):
        await guard.hash_password("p")

    # Past a bounded number of waiters a caller is refused at once, without waiting.
    waiting = [asyncio.create_task(guard.hash_password("p")) for _ in range(2 * guard_module.WAITING_PER_TURN)]
    await asyncio.sleep(0.01)
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await guard.hash_password("p")
    assert time.monotonic() - started < 0.1
    await asyncio.gather(*waiting, return_exceptions=True)

    release.set()
    await asyncio.gather(*first, return_exceptions=True)
    assert await guard.hash_password("p") == "hashed"
    assert most == 2
