"""Abuse limits of the identity routes (gateway in process, SQLite, counters in memory): per
address and per account with Retry-After, argon2 behind a bounded semaphore, log-out revokes
the token, password rules, sign-up that does not tell known emails, invitations that reserve
no email beyond their tenant."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from quarry_runtime.store import SqlDatabase
from quarry_security.ratelimit import LimiterUnavailable, MemoryWindows, SlidingWindowLimiter, Window
from services.gateway import guard as guard_module
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.errors import Unavailable
from services.gateway.guard import AuthGuard, source
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings

PASSWORD = "long-enough-1"
Gateway = Callable[..., TestClient]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    """A factory: the gateway app with the given settings, sharing nothing between calls but the directory."""
    opened: list[SqlDatabase] = []

    def make(**settings: Any) -> TestClient:
        config = GatewaySettings(data_dir=tmp_path / str(len(opened)), **settings)
        db = SqlDatabase(config, "gateway")
        opened.append(db)
        parts = Components(config, GatewayStore(db), cast(Any, None), RunFeed(), cast(Any, None), MonitorStore(db))
        return TestClient(create_app(parts))

    yield make
    for db in opened:
        db.close()


def signup(http: TestClient, name: str, password: str = PASSWORD) -> Any:
    return http.post(
        "/v1/auth/signup", json={"email": f"{name}@example.com", "password": password, "tenant_name": name}
    )


def login(http: TestClient, email: str, password: str) -> Any:
    return http.post("/v1/auth/login", json={"email": email, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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


def _real() -> dict[str, str]:
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


# -- finding 16: log-out, passwords ----------------------------------------------------------------


def test_logout_revokes_the_token_and_only_that_one(gateway: Gateway) -> None:
    http = gateway()
    first = signup(http, "ivy").json()["access_token"]
    second = login(http, "ivy@example.com", PASSWORD).json()["access_token"]

    assert http.post("/v1/auth/logout", headers=bearer(first)).status_code == 204

    assert http.get("/v1/auth/me", headers=bearer(first)).status_code == 401
    assert "revoked" in http.get("/v1/runs", headers=bearer(first)).text
    assert http.post("/v1/auth/logout", headers=bearer(first)).status_code == 401
    assert http.get("/v1/auth/me", headers=bearer(second)).status_code == 200
    key = http.post("/v1/keys", json={"name": "k", "scopes": ["runs:read"]}, headers=bearer(second)).json()["api_key"]
    assert http.post("/v1/auth/logout", headers=bearer(key)).status_code == 400


def test_a_revocation_is_kept_until_the_token_would_have_expired(tmp_path: Path) -> None:
    db = SqlDatabase(GatewaySettings(data_dir=tmp_path), "gateway")
    accounts = GatewayStore(db).accounts
    accounts.revoke_token("old", expires_at=100.0, now=50.0)
    accounts.revoke_token("new", expires_at=300.0, now=150.0)  # sweeps "old": it has expired anyway
    assert accounts.token_revoked("new") and not accounts.token_revoked("old")
    db.close()


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short-pw1", "at least 10 characters"), ("password123", "commonly used"), ("QwertyUiop", "commonly used")],
)
def test_weak_passwords_are_refused_with_the_reason(gateway: Gateway, password: str, reason: str) -> None:
    http = gateway()
    refused = signup(http, "jon", password)
    assert refused.status_code == 422 and reason in refused.text

    owner = signup(http, "kim").json()["access_token"]
    invite = http.post("/v1/members", json={"email": "lea@example.com"}, headers=bearer(owner)).json()["invite_token"]
    refused = http.post("/v1/auth/accept", json={"invite_token": invite, "password": password})
    assert refused.status_code == 422 and reason in refused.text
    assert (
        http.post("/v1/auth/accept", json={"invite_token": invite, "password": "a-fine-password-9"}).status_code == 200
    )


# -- finding 15: enumeration, invitations --------------------------------------------------------


def test_sign_up_answers_the_same_for_a_known_email(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    http = gateway()
    hashed: list[str] = []
    real = guard_module.hash_password
    monkeypatch.setattr(guard_module, "hash_password", lambda p: hashed.append(p) or real(p))

    new = signup(http, "max")
    known = signup(http, "max", "another-password-7")

    assert new.status_code == known.status_code == 201
    assert new.json().keys() == known.json().keys()
    assert {k: type(v) for k, v in new.json().items()} == {k: type(v) for k, v in known.json().items()}
    assert len(hashed) == 2, "both hash the password, so both take as long"
    # The account is untouched: its password is the first one, and the second answer opens nothing.
    assert login(http, "max@example.com", PASSWORD).status_code == 200
    assert login(http, "max@example.com", "another-password-7").status_code == 401
    assert http.get("/v1/auth/me", headers=bearer(known.json()["access_token"])).status_code == 401


def test_an_invitation_reserves_the_email_only_in_its_tenant(gateway: Gateway) -> None:
    http = gateway()
    a = signup(http, "tenant-a").json()["access_token"]
    b = signup(http, "tenant-b").json()["access_token"]
    to_bob = {"email": "bob@example.com", "role": "member"}
    from_a = http.post("/v1/members", json=to_bob, headers=bearer(a))
    assert from_a.status_code == 201
    assert http.post("/v1/members", json=to_bob, headers=bearer(a)).status_code == 409, "already invited here"

    from_b = http.post("/v1/members", json=to_bob, headers=bearer(b))
    assert from_b.status_code == 201, "another tenant may invite the same address"
    signed_up = signup(http, "bob")
    assert signed_up.status_code == 201
    assert http.get("/v1/auth/me", headers=bearer(signed_up.json()["access_token"])).status_code == 200

    # Bob has an account now: the invitations can no longer make a second one.
    accepted = http.post(
        "/v1/auth/accept", json={"invite_token": from_a.json()["invite_token"], "password": "a-fine-password-9"}
    )
    assert accepted.status_code == 409
    again = http.post(
        "/v1/auth/accept", json={"invite_token": from_a.json()["invite_token"], "password": "a-fine-password-9"}
    )
    assert again.status_code == 401, "the invite was spent"
    assert login(http, "bob@example.com", PASSWORD).json()["tenant_id"] == signed_up.json()["tenant_id"]


def test_the_first_invitation_accepted_wins(gateway: Gateway) -> None:
    http = gateway()
    a = signup(http, "first-a").json()["access_token"]
    b = signup(http, "first-b").json()["access_token"]
    to_cy = {"email": "cy@example.com"}
    invite_a = http.post("/v1/members", json=to_cy, headers=bearer(a)).json()["invite_token"]
    invite_b = http.post("/v1/members", json=to_cy, headers=bearer(b)).json()["invite_token"]

    joined = http.post("/v1/auth/accept", json={"invite_token": invite_b, "password": "a-fine-password-9"})
    assert joined.status_code == 200
    assert (
        http.post("/v1/auth/accept", json={"invite_token": invite_a, "password": "a-fine-password-9"}).status_code
        == 409
    )
    assert login(http, "cy@example.com", "a-fine-password-9").json()["tenant_id"] == joined.json()["tenant_id"]


def test_a_store_made_when_invitations_reserved_emails_is_migrated(tmp_path: Path) -> None:
    db = SqlDatabase(GatewaySettings(data_dir=tmp_path), "gateway")
    db.execute(
        "CREATE TABLE users (user_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, email TEXT NOT NULL UNIQUE,"
        " password_hash TEXT NOT NULL, roles TEXT NOT NULL, created_at TEXT NOT NULL)"
    )
    db.execute("INSERT INTO users VALUES ('u1', 't1', 'a@example.com', '!invited', '[\"member\"]', 'x')")
    accounts = GatewayStore(db).accounts
    accounts.invite_member("t2", "u2", "a@example.com", "member", "h", 2e9, "owner")
    assert len(db.query("SELECT 1 FROM users WHERE email = 'a@example.com'")) == 2
    db.close()


def test_an_ipv6_subscriber_counts_as_one_address() -> None:
    assert source("2001:db8:1:2:aaaa::1") == source("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert source("2001:db8:1:3::1") != source("2001:db8:1:2::1")
    assert source("::ffff:203.0.113.7") == source("203.0.113.7") == "203.0.113.7"
    assert source("testclient") == "testclient"


class Unreachable(MemoryWindows):
    """The windows' store while the bus is down."""

    async def read(self, key: str) -> Window:
        raise LimiterUnavailable("the bus is down")


def test_without_its_counters_the_gateway_refuses_rather_than_lets_anything_through(tmp_path: Path) -> None:
    settings = GatewaySettings(data_dir=tmp_path)
    db = SqlDatabase(settings, "gateway")
    limiter = SlidingWindowLimiter(Unreachable())
    parts = Components(
        settings, GatewayStore(db), cast(Any, None), RunFeed(), cast(Any, None), MonitorStore(db), limiter=limiter
    )
    http = TestClient(create_app(parts))

    refused = login(http, "ann@example.com", PASSWORD)

    assert refused.status_code == 503 and refused.headers["Retry-After"] == "2"
    db.close()
