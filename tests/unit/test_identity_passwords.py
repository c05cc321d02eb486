"""Identity routes in process: log-out revokes the token, weak passwords are refused, sign-up and
invitations reveal no email beyond their tenant, and missing counters refuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from quarry_runtime.store import SqlDatabase
from quarry_security.ratelimit import LimiterUnavailable, MemoryWindows, SlidingWindowLimiter, Window
from services.gateway import guard as guard_module
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.guard import source
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed
from services.gateway.readmodels.store import GatewayStore
from services.gateway.security import hash_password
from services.gateway.settings import GatewaySettings
from tests.support.identity import PASSWORD, Gateway, bearer, gateway, login, signup

__all__ = ["gateway"]  # the fixture

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

    def recorded(password: str) -> str:
        hashed.append(password)
        return hash_password(password)

    monkeypatch.setattr(guard_module, "hash_password", recorded)

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
