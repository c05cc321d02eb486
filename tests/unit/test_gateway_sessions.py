"""Browser sessions against the real gateway app (SQLite store, no bus): the token only in an
HttpOnly cookie, CSRF refused and accepted, bearer tokens exempt, log-out revokes, SSE by cookie."""

from __future__ import annotations

from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from quarry_runtime.store import SqlDatabase
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings
from tests.unit.test_identity_api import _settled_run

PASSWORD = "long-enough-1"
BASE = "https://quarry.test"


def _app(tmp_path: Path, environment: str) -> tuple[TestClient, GatewayStore, SqlDatabase]:
    settings = GatewaySettings(data_dir=tmp_path, environment=environment, web_dist=tmp_path / "no-dist")
    db = SqlDatabase(settings, "gateway")
    store = GatewayStore(db)
    parts = Components(settings, store, cast(Any, None), RunFeed(), cast(Any, None), MonitorStore(db))
    return TestClient(create_app(parts), base_url=BASE), store, db


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[TestClient, GatewayStore]]:
    http, store, db = _app(tmp_path, "test")
    yield http, store
    db.close()


def _set_cookies(response: Any) -> dict[str, Any]:
    jar: dict[str, Any] = {}
    for header in response.headers.get_list("set-cookie"):
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            jar[name] = morsel
    return jar


def _cookie_signup(http: TestClient, name: str) -> str:
    r = http.post(
        "/v1/auth/signup",
        json={"email": f"{name}@example.com", "password": PASSWORD, "tenant_name": name, "session": "cookie"},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["csrf_token"])


def test_a_cookie_login_sets_hardened_cookies_and_no_token_in_the_body(
    gateway: tuple[TestClient, GatewayStore],
) -> None:
    http, _ = gateway
    _cookie_signup(http, "acme")
    http.cookies.clear()
    r = http.post("/v1/auth/login", json={"email": "acme@example.com", "password": PASSWORD, "session": "cookie"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"token_type", "expires_in", "csrf_token"} and body["token_type"] == "cookie"
    assert body["expires_in"] == 3600 and "access_token" not in r.text
    assert r.headers["cache-control"] == "no-store"
    cookies = _set_cookies(r)
    session, csrf = cookies["quarry_session"], cookies["quarry_csrf"]
    assert session.value and session.value not in r.text
    assert session["httponly"] and session["secure"] and session["samesite"].lower() == "lax" and session["path"] == "/"
    assert session["max-age"] == "3600"
    assert not csrf["httponly"] and csrf["secure"] and csrf["samesite"].lower() == "strict" and csrf["path"] == "/"
    assert csrf.value == body["csrf_token"]

    me = http.get("/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["email"] == "acme@example.com" and me.json()["roles"] == ["owner"]
    assert me.json()["tenant_name"] == "acme" and me.json()["plan"] is None  # no billing in this test

    # Without the field the answer is as before: a bearer token, no cookies.
    plain = TestClient(http.app, base_url=BASE)
    r = plain.post("/v1/auth/login", json={"email": "acme@example.com", "password": PASSWORD})
    assert r.json()["token_type"] == "bearer" and r.json()["access_token"] and "set-cookie" not in r.headers
    assert plain.post("/v1/auth/login", json={"email": "a@b.co", "password": "x", "session": "jar"}).status_code == 422


def test_cookies_are_not_secure_only_in_development(tmp_path: Path) -> None:
    http, _, db = _app(tmp_path, "development")
    try:
        r = http.post(
            "/v1/auth/signup",
            json={"email": "dev@example.com", "password": PASSWORD, "tenant_name": "dev", "session": "cookie"},
        )
        cookies = _set_cookies(r)
        assert not cookies["quarry_session"]["secure"] and cookies["quarry_session"]["httponly"]
    finally:
        db.close()


def test_a_change_by_cookie_needs_the_sessions_csrf_token(gateway: tuple[TestClient, GatewayStore]) -> None:
    http, _ = gateway
    csrf = _cookie_signup(http, "beta")
    body = {"name": "ci", "scopes": ["runs:read"]}
    for headers in ({}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": ""}):
        refused = http.post("/v1/keys", json=body, headers=headers)
        assert refused.status_code == 403 and refused.json() == {"detail": "missing or wrong CSRF token"}, headers
    # Another session's token does not fit this one.
    other = TestClient(http.app, base_url=BASE)
    other_csrf = _cookie_signup(other, "gamma")
    assert http.post("/v1/keys", json=body, headers={"X-CSRF-Token": other_csrf}).status_code == 403
    # A cross-origin page cannot send it even with the token.
    foreign = {"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
    assert http.post("/v1/keys", json=body, headers=foreign).status_code == 403

    assert http.post("/v1/keys", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    same = {"X-CSRF-Token": csrf, "Origin": BASE}
    assert http.post("/v1/keys", json=body | {"name": "two"}, headers=same).status_code == 201
    # Reading needs no token.
    assert http.get("/v1/keys").status_code == 200


def test_bearer_tokens_and_api_keys_are_exempt_from_csrf(gateway: tuple[TestClient, GatewayStore]) -> None:
    http, _ = gateway
    r = http.post("/v1/auth/signup", json={"email": "d@example.com", "password": PASSWORD, "tenant_name": "d"})
    token = r.json()["access_token"]
    bearer = TestClient(http.app, base_url=BASE)
    made = bearer.post(
        "/v1/keys",
        json={"name": "ci", "scopes": ["templates:write", "templates:read"]},
        headers={"Authorization": f"Bearer {token}", "Origin": "https://elsewhere.example"},
    )
    assert made.status_code == 201, made.text
    key = made.json()["api_key"]
    template = {"name": "t", "depth": 1}
    by_key = bearer.post("/v1/templates", json=template, headers={"Authorization": f"Bearer {key}"})
    assert by_key.status_code == 201, by_key.text
    # A session cookie carrying an API key is not a session.
    http.cookies.set("quarry_session", key)
    assert http.get("/v1/auth/me").status_code == 401


def test_logout_by_cookie_revokes_the_session_and_clears_the_cookies(
    gateway: tuple[TestClient, GatewayStore],
) -> None:
    http, _ = gateway
    csrf = _cookie_signup(http, "eta")
    stolen = http.cookies.get("quarry_session")
    assert http.post("/v1/auth/logout").status_code == 403  # CSRF applies to log-out too
    r = http.post("/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204
    cleared = _set_cookies(r)
    assert cleared["quarry_session"].value == "" and cleared["quarry_session"]["max-age"] == "0"
    assert cleared["quarry_csrf"]["max-age"] == "0"
    assert http.get("/v1/auth/me").status_code == 401
    # The cookie's token is dead on the server, not only forgotten by the browser.
    replay = TestClient(http.app, base_url=BASE)
    replay.cookies.set("quarry_session", str(stolen))
    assert replay.get("/v1/auth/me").status_code == 401
    assert replay.get("/v1/auth/me", headers={"Authorization": f"Bearer {stolen}"}).status_code == 401


def test_the_event_stream_and_reports_take_the_cookie(gateway: tuple[TestClient, GatewayStore]) -> None:
    http, store = gateway
    _cookie_signup(http, "theta")
    tenant = http.get("/v1/auth/me").json()["tenant_id"]
    _settled_run(store, tenant, "run-1")
    stream = http.get("/v1/runs/run-1/events")
    assert stream.status_code == 200 and "event: run.rejected" in stream.text and "event: end" in stream.text
    assert http.get("/v1/runs/run-1").json()["state"] == "rejected"
    anonymous = TestClient(http.app, base_url=BASE)
    assert anonymous.get("/v1/runs/run-1/events").status_code == 401
    stranger = TestClient(http.app, base_url=BASE)
    _cookie_signup(stranger, "iota")
    assert stranger.get("/v1/runs/run-1/events").status_code == 404
