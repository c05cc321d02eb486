"""The identity API in process (gateway app on a SQLite store, no bus): every route declares a
permission, members and keys follow the rules, the SSE stream takes tickets or headers."""

from __future__ import annotations

import json
from typing import cast

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from services.gateway.api.deps import DECLARED, Components, current_principal
from services.gateway.app import create_app
from services.gateway.readmodels.run_view import fold_run
from services.gateway.readmodels.store import GatewayStore
from tests.support.gateway import Caller, api_routes, signup

PUBLIC = {
    ("POST", "/v1/auth/signup"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/accept"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/v1/billing/webhook"),  # Stripe signs its calls; billing verifies the signature
    ("GET", "/v1/shared/{token}"),  # a share link: the token is the authority, revocable
}
SIGNED_IN_ONLY = {("GET", "/v1/auth/me"), ("POST", "/v1/auth/logout")}  # about the caller alone


def _declared(route: APIRoute) -> tuple[set[str], bool]:
    """(permissions the route's dependencies check, whether it authenticates at all)."""
    found: set[str] = set()
    authenticated = False
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        if dep.call in DECLARED:
            found.add(DECLARED[dep.call])
            authenticated = True
        authenticated = authenticated or dep.call is current_principal
        stack.extend(dep.dependencies)
    return found, authenticated


def test_every_route_declares_exactly_one_permission_or_is_public_on_purpose() -> None:
    app = create_app(cast(Components, None))
    missing = []
    routes = list(api_routes(app.routes))
    assert len(routes) > 30
    for route in routes:
        for method in route.methods or ():
            declared, authenticated = _declared(route)
            if (method, route.path) in PUBLIC:
                assert not authenticated, f"{method} {route.path} is listed public but authenticates"
            elif (method, route.path) in SIGNED_IN_ONLY:
                assert authenticated and not declared, (method, route.path)
            elif len(declared) != 1:
                missing.append(f"{method} {route.path}: {sorted(declared) or 'no permission'}")
    assert not missing, "routes without exactly one requires(...):\n" + "\n".join(sorted(missing))


def _join(http: TestClient, inviter: Caller, name: str, role: str) -> tuple[Caller, str]:
    r = inviter("POST", "/v1/members", json={"email": f"{name}@example.com", "role": role})
    assert r.status_code == 201, r.text
    accepted = http.post(
        "/v1/auth/accept", json={"invite_token": r.json()["invite_token"], "password": "long-enough-2"}
    )
    assert accepted.status_code == 200, accepted.text
    return Caller(http, accepted.json()["access_token"]), r.json()["user_id"]


def test_members_are_invited_promoted_demoted_and_removed_within_rank(http: TestClient) -> None:
    owner = signup(http, "acme")
    owner_id = owner("GET", "/v1/auth/me").json()["user_id"]
    admin, admin_id = _join(http, owner, "ada", "admin")
    viewer, viewer_id = _join(http, admin, "vic", "viewer")
    assert viewer("GET", "/v1/auth/me").json()["permissions"] == [
        "datasets:read",
        "documents:read",
        "monitors:read",
        "runs:read",
        "settings:read",
        "templates:read",
    ]
    assert admin("POST", "/v1/members", json={"email": "o2@example.com", "role": "owner"}).status_code == 403
    assert admin("PATCH", f"/v1/members/{owner_id}", json={"role": "viewer"}).status_code == 403
    assert admin("DELETE", f"/v1/members/{owner_id}").status_code == 403
    assert viewer("POST", "/v1/members", json={"email": "v2@example.com"}).status_code == 403
    assert admin("POST", "/v1/members", json={"email": "ada@example.com"}).status_code == 409
    assert owner("PATCH", f"/v1/members/{owner_id}", json={"role": "admin"}).status_code == 409
    assert owner("DELETE", f"/v1/members/{owner_id}").status_code == 409
    assert owner("PATCH", f"/v1/members/{owner_id}", json={"role": "superuser"}).status_code == 422

    # A promotion or demotion applies to the member's next request, not when their token expires.
    assert viewer("POST", "/v1/keys", json={"name": "k", "scopes": ["runs:read"]}).status_code == 403
    assert admin("PATCH", f"/v1/members/{viewer_id}", json={"role": "admin"}).json()["role"] == "admin"
    assert viewer("POST", "/v1/keys", json={"name": "k", "scopes": ["runs:read"]}).status_code == 201
    assert owner("PATCH", f"/v1/members/{admin_id}", json={"role": "viewer"}).status_code == 200
    assert admin("GET", "/v1/members").status_code == 403

    assert owner("DELETE", f"/v1/members/{viewer_id}").status_code == 204
    assert viewer("GET", "/v1/runs").status_code == 401
    listed = owner("GET", "/v1/members").json()["members"]
    assert [(m["email"], m["role"], m["status"]) for m in listed] == [
        ("acme@example.com", "owner", "active"),
        ("ada@example.com", "viewer", "active"),
    ]
    assert owner("DELETE", f"/v1/members/{viewer_id}").status_code == 404


def test_an_invited_member_cannot_log_in_until_accepting_and_the_invite_is_single_use(http: TestClient) -> None:
    owner = signup(http, "beta")
    invite = owner("POST", "/v1/members", json={"email": "new@example.com", "role": "member"}).json()["invite_token"]
    assert (
        http.post("/v1/auth/login", json={"email": "new@example.com", "password": "long-enough-2"}).status_code == 401
    )
    body = {"invite_token": invite, "password": "long-enough-2"}
    assert http.post("/v1/auth/accept", json=body).status_code == 200
    assert http.post("/v1/auth/accept", json=body).status_code == 401
    assert (
        http.post("/v1/auth/login", json={"email": "new@example.com", "password": "long-enough-2"}).status_code == 200
    )


def test_keys_are_shown_once_scoped_listed_without_secrets_and_revocable(http: TestClient) -> None:
    owner = signup(http, "gamma")
    created = owner("POST", "/v1/keys", json={"name": "ci", "scopes": ["runs:read"], "expires_in_days": 30})
    assert created.status_code == 201
    api_key, key_id = created.json()["api_key"], created.json()["key_id"]
    key = Caller(http, api_key)
    assert key("GET", "/v1/runs").status_code == 200
    assert key("GET", "/v1/documents").status_code == 403
    assert key("POST", "/v1/keys", json={"name": "child", "scopes": ["runs:read"]}).status_code == 403
    assert key("GET", "/v1/auth/me").json()["permissions"] == ["runs:read"]
    for scopes in (["members:write"], ["keys:write"], ["policy:publish"], ["made:up"], []):
        assert owner("POST", "/v1/keys", json={"name": "x", "scopes": scopes}).status_code == 422, scopes
    listed = owner("GET", "/v1/keys").json()["keys"]
    assert [k["key_id"] for k in listed] == [key_id] and api_key.split("_", 2)[2] not in json.dumps(listed)
    assert owner("DELETE", f"/v1/keys/{key_id}").status_code == 204
    assert key("GET", "/v1/runs").status_code == 401
    assert owner("DELETE", "/v1/keys/0123456789abcdef").status_code == 404
    assert Caller(http, api_key[:-2] + "xx")("GET", "/v1/runs").status_code == 401
    assert Caller(http, "qk_nonsense")("GET", "/v1/runs").status_code == 401


def _settled_run(store: GatewayStore, tenant_id: str, run_id: str) -> None:
    events = [
        {"event_id": f"{run_id}-1", "type": "run.requested", "occurred_at": "2030-01-01T00:00:00+00:00", "payload": {}},
        {"event_id": f"{run_id}-2", "type": "run.rejected", "occurred_at": "2030-01-01T00:00:01+00:00", "payload": {}},
    ]
    view = fold_run(events)
    store.db.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
        (run_id, tenant_id, None, view["state"], json.dumps(view), "2030", "2030"),
    )
    for ev in events:
        store.db.execute(
            "INSERT INTO run_events (event_id, run_id, tenant_id, type, occurred_at, data) VALUES (?, ?, ?, ?, ?, ?)",
            (ev["event_id"], run_id, tenant_id, ev["type"], ev["occurred_at"], json.dumps(ev)),
        )


def test_the_stream_takes_a_single_use_ticket_bound_to_its_run_or_the_header(
    gateway: tuple[TestClient, GatewayStore],
) -> None:
    http, store = gateway
    owner = signup(http, "delta")
    tenant = owner("GET", "/v1/auth/me").json()["tenant_id"]
    _settled_run(store, tenant, "run-1")
    _settled_run(store, tenant, "run-2")
    other = signup(http, "epsilon")

    issued = owner("POST", "/v1/runs/run-1/events/ticket")
    assert issued.status_code == 201 and issued.json()["expires_in"] == 60
    ticket = issued.json()["ticket"]
    first = http.get(f"/v1/runs/run-1/events?ticket={ticket}")
    assert first.status_code == 200 and "event: run.requested" in first.text and "event: end" in first.text
    assert http.get(f"/v1/runs/run-1/events?ticket={ticket}").status_code == 401

    wrong_run = owner("POST", "/v1/runs/run-1/events/ticket").json()["ticket"]
    assert http.get(f"/v1/runs/run-2/events?ticket={wrong_run}").status_code == 401
    assert other("POST", "/v1/runs/run-1/events/ticket").status_code == 404
    assert other("GET", "/v1/runs/run-1/events").status_code == 404
    assert http.get("/v1/runs/run-1/events").status_code == 401
    assert http.get(f"/v1/runs/run-1/events?access_token={owner.token}").status_code == 401

    by_header = owner("GET", "/v1/runs/run-1/events", params={"after": 1})
    assert by_header.status_code == 200 and "run.requested" not in by_header.text and "run.rejected" in by_header.text
