"""Who may do what, end to end: two tenants, each with an owner, an admin, a member and a viewer,
against every endpoint of the gateway; every cross-tenant attempt is a 404 or a 403 that shows
nothing of the other tenant; API keys and SSE stream tickets.

The matrix states its expectations on its own (it does not read the gateway's permission
table), and it must name every endpoint the running gateway serves: an endpoint added without
an entry here fails `test_every_endpoint_has_a_matrix_entry`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from devtools.client import QuarryClient
from devtools.stack import Stack
from tests.e2e.access_matrix import MATRIX, Call
from tests.support.access import PASSWORD, ROLES, YEARLY, Tenant, body_of, unique
from tests.support.polling import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.infra]


class Clients:
    """Clients of one gateway, closed together."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.made: list[QuarryClient] = []

    def __call__(self, token: str | None = None) -> QuarryClient:
        client = QuarryClient(self.base_url, token)
        self.made.append(client)
        return client


@dataclass
class World:
    base_url: str
    a: Tenant
    b: Tenant
    client: Clients


def _tenant(new_client: Clients, name: str) -> Tenant:
    owner = new_client()
    email = f"owner-{name}-{unique()}@example.com"
    signed = owner.signup(email, PASSWORD, f"{name}-{unique()}")
    # The matrix tests roles, not plans: a plan whose limits (concurrent runs, monitors,
    # datasets) its many requests stay within, bought in mock mode (the stack is development).
    body_of(owner.request("POST", "/v1/billing/checkout", json={"kind": "subscription", "item": "enterprise"}))
    tenant = Tenant(name, signed["tenant_id"], {"owner": owner}, {"owner": signed["user_id"]}, {"owner": email})
    for role in ("admin", "member", "viewer"):
        email = f"{role}-{name}-{unique()}@example.com"
        invited = owner.invite(email, role)
        client = new_client()
        client.accept(invited["invite_token"], PASSWORD)
        tenant.users[role], tenant.user_ids[role], tenant.emails[role] = client, invited["user_id"], email
    token = unique()
    tenant.question = f"What is a Python context manager, asks {name}{token}?"
    tenant.run_id = owner.create_run(tenant.question, depth=1, max_sources=3)
    tenant.document_title = f"Notes of {name}{token}"
    tenant.document_id = owner.upload(tenant.document_title, "Generators yield values lazily.")
    tenant.dataset = str(body_of(owner.request("POST", "/v1/datasets", json={"name": f"ds-{name}{token}"}))["name"])
    tenant.monitor_question = f"What changed for {name}{token}?"
    body = {"question": tenant.monitor_question, "cron": YEARLY}
    tenant.monitor_id = body_of(owner.request("POST", "/v1/monitors", json=body))["monitor_id"]
    tenant.key_name = f"key of {name}{token}"
    tenant.key_id = owner.create_key(tenant.key_name, ["runs:read"])["key_id"]
    tenant.template_name = f"Template of {name}{token}"
    made = body_of(owner.request("POST", "/v1/templates", json={"name": tenant.template_name}))
    tenant.template_id = made["template_id"]
    tenant.markers = {
        tenant.tenant_id,
        f"{name}{token}",
        tenant.run_id,
        tenant.document_id,
        tenant.monitor_id,
        tenant.key_id,
        tenant.template_id,
        *tenant.user_ids.values(),
        *tenant.emails.values(),
    }
    return tenant


@pytest.fixture(scope="module")
def world(stack: Stack) -> Iterator[World]:
    base_url = f"http://127.0.0.1:{stack.config.http_port}"
    clients = Clients(base_url)
    w = World(base_url, _tenant(clients, "alpha"), _tenant(clients, "bravo"), clients)
    for t in (w.a, w.b):
        # Streams of a finished, billed run end by themselves: the matrix can read them whole.
        assert list(t.owner.events(t.run_id))[-1].event == "end"
        assert t.owner.run(t.run_id)["state"] == "completed", t.owner.run(t.run_id).get("error")
        asked = body_of(t.owner.request("POST", f"/v1/runs/{t.run_id}/questions", json={"question": t.question}))
        t.question_id = asked["question_id"]
        t.markers.add(t.question_id)
        answer_path = f"/v1/runs/{t.run_id}/questions/{t.question_id}"
        owner = t.owner
        wait_for(
            lambda: body_of(owner.request("GET", answer_path))["status"] == "answered",  # noqa: B023 - called at once
            what="the follow-up to be answered",
        )
    yield w
    for c in clients.made:
        c.close()


def _send(client: QuarryClient, method: str, call: Call) -> httpx.Response:
    headers = {"Authorization": f"Bearer {call.token}"} if call.token else {}
    return client.request(
        method, call.path, json=call.json, params=call.params, files=call.files, headers=headers, timeout=60.0
    )


def _check(got: httpx.Response, want: int | None, what: str, foreign: set[str], failures: list[str]) -> None:
    if want is None:
        if got.status_code in (401, 403):
            failures.append(f"{what}: {got.status_code}, expected authorisation to pass: {got.text[:200]}")
    elif got.status_code != want:
        failures.append(f"{what}: {got.status_code}, expected {want}: {got.text[:200]}")
    leaked = [m for m in foreign if m in got.text]
    if leaked:
        failures.append(f"{what}: the body shows another tenant's {leaked}")


def test_every_endpoint_has_a_matrix_entry(world: World) -> None:
    schema = httpx.get(f"{world.base_url}/api/openapi.json", timeout=30).json()
    served = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert served - MATRIX.keys() == set(), "endpoints without a matrix entry"
    assert MATRIX.keys() - served == set(), "matrix entries for endpoints the gateway does not serve"


@pytest.mark.parametrize("home_name", ["a", "b"])
def test_each_role_gets_what_the_matrix_says(world: World, home_name: str) -> None:
    home = getattr(world, home_name)
    other = world.b if home is world.a else world.a
    failures: list[str] = []
    for (method, _), case in MATRIX.items():
        for role in ROLES:
            want = case.expected(role)
            call = case.target(home, want is not None and want < 300)
            got = _send(home.users[role], method, call)
            _check(got, want, f"{role} {method} {call.path}", other.markers, failures)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("direction", ["b->a", "a->b"])
def test_cross_tenant_attempts_are_404_or_403_and_show_nothing(world: World, direction: str) -> None:
    victim, intruder = (world.a, world.b) if direction == "b->a" else (world.b, world.a)
    failures: list[str] = []
    for (method, _), case in MATRIX.items():
        if not case.tenant_scoped:
            continue
        for role in ROLES:
            want = case.expected_across(role)
            call = case.target(victim, want == 404)  # a live resource: a leak would act on it
            got = _send(intruder.users[role], method, call)
            _check(got, want, f"{role} of the other tenant {method} {call.path}", victim.markers, failures)
    # A stream ticket cannot even be asked for another tenant's run, and a key is held to its tenant.
    key = world.client(intruder.owner.create_key("cross", ["runs:read", "documents:read"])["api_key"])
    for path in (f"/v1/runs/{victim.run_id}", f"/v1/runs/{victim.run_id}/events", f"/v1/runs/{victim.run_id}/log"):
        _check(key.request("GET", path), 404, f"key GET {path}", victim.markers, failures)
    for path in ("/v1/runs", "/v1/documents"):
        _check(key.request("GET", path), 200, f"key GET {path}", victim.markers, failures)
    assert not failures, "\n".join(failures)


def test_a_member_cancels_their_own_runs_only(world: World) -> None:
    member = world.a.users["member"]
    own = member.create_run("What is a Python tuple?", depth=1, max_sources=1)
    assert member.request("POST", f"/v1/runs/{own}/cancel", json={}).status_code == 202
    others = world.a.fresh_run()
    r = member.request("POST", f"/v1/runs/{others}/cancel", json={})
    assert r.status_code == 403 and "requester" in r.text
    assert world.a.users["admin"].request("POST", f"/v1/runs/{others}/cancel", json={}).status_code == 202


def test_only_owners_and_admins_decide_approvals(world: World) -> None:
    owner = world.a.owner
    r = owner.request(
        "POST",
        "/v1/runs",
        json={"question": "What is a Python set?", "depth": 1, "max_sources": 1, "approval_required": True},
    )
    run_id = body_of(r)["run_id"]
    wait_for(
        lambda: owner.run(run_id)["state"] == "waiting_approval", timeout_s=120, what="the run to wait for approval"
    )
    for role in ("viewer", "member"):
        assert (
            world.a.users[role].request("POST", f"/v1/runs/{run_id}/approval", json={"decision": "approve"}).status_code
            == 403
        )
    assert world.b.owner.request("POST", f"/v1/runs/{run_id}/approval", json={"decision": "approve"}).status_code == 404
    r = world.a.users["admin"].request("POST", f"/v1/runs/{run_id}/approval", json={"decision": "reject"})
    assert r.status_code == 202, r.text


def test_stream_tickets_are_single_use_bound_to_their_run_and_tenant(world: World) -> None:
    a, b = world.a, world.b
    viewer = a.users["viewer"]
    events = list(viewer.events(a.run_id, via_ticket=True))
    assert events[0].event == "run.requested" and events[-1].event == "end"

    anonymous = world.client()
    ticket = viewer.stream_ticket(a.run_id)
    assert anonymous.http.get(f"/v1/runs/{a.run_id}/events", params={"ticket": ticket}).status_code == 200
    again = anonymous.http.get(f"/v1/runs/{a.run_id}/events", params={"ticket": ticket})
    assert again.status_code == 401 and a.question not in again.text

    other_run = a.fresh_run()
    misused = viewer.stream_ticket(a.run_id)
    assert anonymous.http.get(f"/v1/runs/{other_run}/events", params={"ticket": misused}).status_code == 401
    assert anonymous.http.get(f"/v1/runs/{a.run_id}/events", params={"ticket": misused}).status_code == 401

    foreign = b.owner.stream_ticket(b.run_id)
    r = anonymous.http.get(f"/v1/runs/{a.run_id}/events", params={"ticket": foreign})
    assert r.status_code == 401 and a.question not in r.text
    assert b.owner.request("POST", f"/v1/runs/{a.run_id}/events/ticket").status_code == 404

    # Never the long-lived token in the URL, and nothing without a credential.
    for params in ({"access_token": viewer.token}, {"token": viewer.token}, {}):
        assert anonymous.http.get(f"/v1/runs/{a.run_id}/events", params=params).status_code == 401


def test_api_keys_are_scoped_revocable_and_follow_their_creators_role(world: World) -> None:
    a = world.a
    owner, admin = a.owner, a.users["admin"]
    created = admin.create_key("ci", ["runs:read", "runs:create"], expires_in_days=7)
    key = world.client(created["api_key"])
    assert created["api_key"].startswith(f"qk_{created['key_id']}_")
    assert key.request("GET", "/v1/runs").status_code == 200
    question = {"question": "What is a Python dict?", "depth": 1, "max_sources": 1}
    assert key.request("POST", "/v1/runs", json=question).status_code == 202
    # The creator is an admin: each of these passes a check on the role alone, not one on the key.
    for method, path, body in (
        ("GET", "/v1/documents", None),
        ("GET", "/v1/members", None),
        ("GET", "/v1/keys", None),
        ("PATCH", "/v1/tenant/settings", {}),
        ("POST", "/v1/policy/simulate", {"resource": {"tool": "web_search"}}),
    ):
        assert key.request(method, path, json=body).status_code == 403, path
    assert key.request("POST", "/v1/keys", json={"name": "child", "scopes": ["runs:read"]}).status_code == 403
    events = list(key.events(a.run_id, via_ticket=True))
    assert events[-1].event == "end"
    assert a.users["member"].request("POST", "/v1/keys", json={"name": "m", "scopes": ["runs:read"]}).status_code == 403
    assert owner.request("POST", "/v1/keys", json={"name": "x", "scopes": ["members:write"]}).status_code == 422

    listed = body_of(owner.request("GET", "/v1/keys"))["keys"]
    mine = next(k for k in listed if k["key_id"] == created["key_id"])
    assert mine["scopes"] == ["runs:create", "runs:read"] and mine["last_used_at"] and mine["status"] == "active"
    assert created["api_key"].split("_", 2)[2] not in str(listed)

    # Demoted to viewer, the admin's key keeps only what a viewer may do; a ticket it got before revocation dies with it.
    body_of(owner.request("PATCH", f"/v1/members/{a.user_ids['admin']}", json={"role": "viewer"}))
    try:
        assert key.request("POST", "/v1/runs", json={"question": "What is a Python frozenset?"}).status_code == 403
        assert key.request("GET", "/v1/runs").status_code == 200
        ticket = key.stream_ticket(a.run_id)
    finally:
        body_of(owner.request("PATCH", f"/v1/members/{a.user_ids['admin']}", json={"role": "admin"}))
    assert owner.request("DELETE", f"/v1/keys/{created['key_id']}").status_code == 204
    assert key.request("GET", "/v1/runs").status_code == 401
    assert key.http.get(f"/v1/runs/{a.run_id}/events", params={"ticket": ticket}).status_code == 401
    assert world.b.owner.request("DELETE", f"/v1/keys/{a.key_id}").status_code == 404
    assert world.client(f"qk_{created['key_id']}_forged").request("GET", "/v1/runs").status_code == 401


def test_the_last_owner_stays_and_a_removed_member_is_locked_out(world: World) -> None:
    founder = world.client()
    founder_email = f"founder-{unique()}@example.com"
    founder_id = founder.signup(founder_email, PASSWORD, "solo")["user_id"]
    assert founder.request("PATCH", f"/v1/members/{founder_id}", json={"role": "admin"}).status_code == 409
    assert founder.request("DELETE", f"/v1/members/{founder_id}").status_code == 409

    invited = founder.invite(f"second-{unique()}@example.com", "admin")
    second = world.client()
    second.accept(invited["invite_token"], PASSWORD)
    make_owner = {"email": f"x-{unique()}@example.com", "role": "owner"}
    assert second.request("POST", "/v1/members", json=make_owner).status_code == 403
    assert second.request("PATCH", f"/v1/members/{founder_id}", json={"role": "viewer"}).status_code == 403
    assert second.request("DELETE", f"/v1/members/{founder_id}").status_code == 403
    body_of(founder.request("PATCH", f"/v1/members/{invited['user_id']}", json={"role": "owner"}))
    # Two owners: now either may step down, and the other is the last one.
    body_of(founder.request("PATCH", f"/v1/members/{founder_id}", json={"role": "admin"}))
    assert second.request("DELETE", f"/v1/members/{invited['user_id']}").status_code == 409
    key = world.client(founder.create_key("founder", ["runs:read"])["api_key"])
    assert second.request("DELETE", f"/v1/members/{founder_id}").status_code == 204
    assert founder.request("GET", "/v1/runs").status_code == 401
    assert key.request("GET", "/v1/runs").status_code == 401
    assert founder.http.post("/v1/auth/login", json={"email": founder_email, "password": PASSWORD}).status_code == 401
