"""Platform operators on a real JetStream, the gateway connected as its own NATS user: roles granted
and revoked by `quarry operator` on the store the running gateway uses, the streams and consumers
views with counts and lag checked against messages the test published, nothing created or
acknowledged by reading, every use audited, and no tenant role or API key let in."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo

from contracts import subjects
from services.gateway.api.deps import Components
from services.gateway.domain.permissions import KEY_SCOPES
from services.gateway.settings import GatewaySettings
from tests.servers import PrivateNats
from tests.support.gateway_on_nats import gateway_as_itself
from tests.support.operators import ops_routes, quarry_operator
from tests.support.people import Person, sign_up

pytestmark = pytest.mark.infra

# A subject of the event stream that no consumer of the gateway filters on (nor runs in this test).
PROBED = subjects.POLICY_REJECTED
PUBLISHED = 5
# Routes whose answer is a stream without end (Server-Sent Events).
STREAMING = frozenset({"/v1/ops/events/tail"})
# Routes a platform operator may not read: the platform admin's.
ADMINS_ONLY = ("/v1/ops/audit", "/v1/ops/replays")
# Routes the orchestrator answers (agent versions, rollouts): no orchestrator runs here, so let in,
# they say so (503), unless the placeholder in their path is refused first (422).
ASKED_OF_THE_ORCHESTRATOR = ("/v1/ops/agents", "/v1/ops/rollouts")


@pytest.fixture
def gateway_settings(server: PrivateNats, tmp_path: Path) -> GatewaySettings:
    """The gateway as the stack runs it on the bus: as its own user, with only its permissions,
    and the operators' console as the `ops` user."""
    return gateway_as_itself(server, tmp_path / "gateway")


async def invited(owner: Person, role: str) -> Person:
    email = f"m{uuid.uuid4().hex[:8]}@example.com"
    r = await owner.post("/v1/members", {"email": email, "role": role})
    assert r.status_code == 201, r.text
    accepted = await owner.http.post(
        "/v1/auth/accept", json={"invite_token": r.json()["invite_token"], "password": "long-enough-2"}
    )
    assert accepted.status_code == 200, accepted.text
    return Person(owner.http, email, accepted.json()["access_token"])


# The gateway's catch-up makes short-lived readers at times of its own choosing; the rest stay.
CATCH_UP = "gateway-catchup-"


async def lasting_consumers(js: JetStreamContext) -> dict[str, ConsumerInfo]:
    """The event stream's consumers as JetStream lists them, but for the catch-up's readers."""
    infos = await js.consumers_info(subjects.STREAM)
    return {c.name: c for c in infos if not c.name.startswith(CATCH_UP)}


def lasting(views: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(c["stream"], c["name"]) for c in views if not c["name"].startswith(CATCH_UP)}


def components(app: FastAPI) -> Components:
    found: Components = app.state.components
    return found


async def test_no_tenant_role_and_no_api_key_reaches_an_ops_route(
    gateway: httpx.AsyncClient, gateway_app: FastAPI, gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    routes = ops_routes(gateway_app)
    assert ("GET", "/v1/ops/streams") in routes and ("GET", "/v1/ops/consumers") in routes
    assert ("GET", "/v1/ops/events") in routes and ("POST", "/v1/ops/deadletters/probe/redrive") in routes
    owner = await sign_up(gateway)
    admin = await invited(owner, "admin")
    key = await owner.post("/v1/keys", {"name": "all it may", "scopes": sorted(await _key_scopes(owner))})
    assert key.status_code == 201, key.text
    by_key = Person(gateway, owner.email, key.json()["api_key"])
    for method, path in routes:
        for who in (owner, admin, by_key):
            r = await gateway.request(method, path, headers=who.headers)
            assert r.status_code == 403, (method, path, r.text)
        assert (await gateway.request(method, path)).status_code == 401

    # Even a platform operator's own key is refused: platform operation is done in person.
    granted = await quarry_operator("grant", owner.email, data_dir=gateway_settings.data_dir, cwd=tmp_path)
    assert granted.returncode == 0, granted.stderr + granted.stdout
    for method, path in routes:
        for who in (admin, by_key):
            assert (await gateway.request(method, path, headers=who.headers)).status_code == 403
        if path in STREAMING:
            continue  # never ends: its tests read it over a real socket (test_gateway_ops_events)
        status = (await gateway.request(method, path, headers=owner.headers)).status_code
        if method == "POST" or path.startswith(ADMINS_ONLY):
            assert status == 403, path  # redrive, discard and the platform's audit are the platform admin's
        elif path.startswith(ASKED_OF_THE_ORCHESTRATOR):
            assert status in ((422, 503) if "probe" in path else (503,)), path
        elif "probe" in path:
            assert status in (404, 422), path  # let in, and told the placeholder is no such thing
        else:
            assert status == 200, path
    revoked = await quarry_operator("revoke", owner.email, data_dir=gateway_settings.data_dir, cwd=tmp_path)
    assert revoked.returncode == 0, revoked.stderr + revoked.stdout
    for method, path in routes:
        assert (await gateway.request(method, path, headers=owner.headers)).status_code == 403
    # Nor do platform roles show in, or get lost by, the tenant's member management.
    members = (await owner.get("/v1/members")).json()["members"]
    assert {m["role"] for m in members} == {"owner", "admin"}


async def _key_scopes(owner: Person) -> set[str]:
    return set((await owner.get("/v1/auth/me")).json()["permissions"]) & KEY_SCOPES


async def test_an_operator_granted_by_the_cli_sees_streams_and_consumers_until_revoked(
    gateway: httpx.AsyncClient, gateway_app: FastAPI, gateway_settings: GatewaySettings, admin: Client, tmp_path: Path
) -> None:
    js = admin.jetstream()
    behind, caught_up = f"ops-behind-{uuid.uuid4().hex[:6]}", f"ops-caught-up-{uuid.uuid4().hex[:6]}"
    for durable in (behind, caught_up):
        config = ConsumerConfig(durable_name=durable, filter_subject=PROBED, ack_policy=AckPolicy.EXPLICIT)
        await js.add_consumer(subjects.STREAM, config)
    acks = [await js.publish(PROBED, json.dumps({"n": n}).encode()) for n in range(PUBLISHED)]
    # One consumer takes two and acknowledges the first; the other takes and acknowledges all.
    taken = await js.pull_subscribe_bind(behind, subjects.STREAM)
    first, second = await taken.fetch(2, timeout=5)
    await first.ack_sync()
    everything = await js.pull_subscribe_bind(caught_up, subjects.STREAM)
    for message in await everything.fetch(PUBLISHED, timeout=5):
        await message.ack_sync()

    operator = await sign_up(gateway)
    assert (await operator.get("/v1/ops/streams")).status_code == 403
    granted = await quarry_operator("grant", operator.email, data_dir=gateway_settings.data_dir, cwd=tmp_path)
    assert granted.returncode == 0, granted.stderr + granted.stdout
    before = await lasting_consumers(js)

    streams = await operator.get("/v1/ops/streams")
    consumers = await operator.get("/v1/ops/consumers")
    consumers_again = await operator.get("/v1/ops/consumers")

    assert streams.status_code == consumers.status_code == consumers_again.status_code == 200, consumers.text
    by_name = {s["name"]: s for s in streams.json()["streams"]}
    stream = by_name[subjects.STREAM]
    info = await js.stream_info(subjects.STREAM)
    assert stream["messages"] == info.state.messages >= PUBLISHED
    assert stream["last_seq"] == acks[-1].seq and stream["first_seq"] == info.state.first_seq
    assert stream["subjects"] == subjects.STREAM_SUBJECTS and stream["replicas"] == 1
    assert stream["last_at"] is not None and _age_s(stream["last_at"]) < 60
    assert stream["limits"]["discard"] == "old" and stream["limits"]["retention"] == "limits"
    assert stream["limits"]["max_bytes"] == gateway_settings.stream_max_bytes
    assert stream["consumer_count"] >= len(before)
    assert subjects.DEADLETTER_STREAM in by_name

    seen = {(c["stream"], c["name"]): c for c in consumers.json()["consumers"]}
    lagging = seen[(subjects.STREAM, behind)]
    assert (lagging["pending"], lagging["ack_pending"]) == (PUBLISHED - 2, 1)
    assert lagging["delivered_seq"] == acks[1].seq and lagging["ack_floor_seq"] == acks[0].seq
    assert lagging["oldest_pending_seq"] == second.metadata.sequence.stream == acks[1].seq
    assert lagging["lag_s"] > 0 and lagging["service"] is None
    assert lagging["filter_subjects"] == [PROBED]
    done = seen[(subjects.STREAM, caught_up)]
    assert (done["pending"], done["ack_pending"], done["lag_s"], done["oldest_pending_seq"]) == (0, 0, 0.0, None)
    assert done["ack_floor_seq"] == acks[-1].seq
    runs = seen[(subjects.STREAM, "gateway-runs")]
    assert runs["service"] == "gateway" and runs["filter_subjects"] == ["run.>"]

    # Reading created no consumer and acknowledged nothing.
    after = await lasting_consumers(js)
    assert set(after) == set(before)
    for name in (behind, caught_up):
        assert (after[name].num_pending, after[name].num_ack_pending) == (
            before[name].num_pending,
            before[name].num_ack_pending,
        )
        assert after[name].ack_floor == before[name].ack_floor
    assert lasting(consumers_again.json()["consumers"]) == lasting(consumers.json()["consumers"])

    audit = components(gateway_app).store.platform_audit
    reads = audit.entries(kind="ops.read")
    assert [e["target"] for e in reads] == ["GET /v1/ops/streams", "GET /v1/ops/consumers", "GET /v1/ops/consumers"]
    assert {e["actor"]["name"] for e in reads} == {operator.email}
    grants = audit.entries(kind="operator.granted")
    assert grants[-1]["detail"]["after"] == ["platform_operator"] and grants[-1]["actor"]["name"].startswith("cli:")

    revoked = await quarry_operator(
        "revoke", operator.email, "--role", "platform_operator", data_dir=gateway_settings.data_dir, cwd=tmp_path
    )
    assert revoked.returncode == 0, revoked.stderr + revoked.stdout
    # The same token, on its very next request.
    assert (await operator.get("/v1/ops/consumers")).status_code == 403
    assert audit.entries(kind="operator.revoked")[-1]["detail"]["after"] == []
    assert len(audit.entries(kind="ops.read")) == len(reads)


async def test_me_tells_the_web_app_which_platform_role_the_caller_holds(
    gateway: httpx.AsyncClient, gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    """The web app shows "Operations" and the redrive buttons from /v1/auth/me's roles and permissions."""
    person = await sign_up(gateway)
    ops = {"ops:read", "ops:payload", "ops:redrive"}

    async def me() -> tuple[list[str], set[str], str]:
        body = (await person.get("/v1/auth/me")).json()
        return body["roles"], set(body["permissions"]) & ops, body["role"]

    assert await me() == (["owner"], set(), "owner")
    for role, held in (("platform_operator", {"ops:read"}), ("platform_admin", ops)):
        done = await quarry_operator(
            "grant", person.email, "--role", role, data_dir=gateway_settings.data_dir, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr + done.stdout
        roles, permissions, tenant_role = await me()
        assert role in roles and permissions == held and tenant_role == "owner", (role, roles, permissions)
    # Through an API key the caller is no operator, whatever the account holds.
    key = await person.post("/v1/keys", {"name": "ci", "scopes": ["runs:read"]})
    assert key.status_code == 201, key.text
    by_key = (await gateway.get("/v1/auth/me", headers={"Authorization": f"Bearer {key.json()['api_key']}"})).json()
    assert not set(by_key["permissions"]) & ops
    revoked = await quarry_operator("revoke", person.email, data_dir=gateway_settings.data_dir, cwd=tmp_path)
    assert revoked.returncode == 0, revoked.stderr + revoked.stdout
    roles, permissions, _ = await me()
    assert permissions == set() and not {"platform_operator", "platform_admin"} & set(roles)


async def test_the_cli_refuses_an_unknown_account_and_a_role_that_is_no_platform_role(
    gateway: httpx.AsyncClient, gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    person = await sign_up(gateway)
    unknown = await quarry_operator("grant", "nobody@example.com", data_dir=gateway_settings.data_dir, cwd=tmp_path)
    assert unknown.returncode == 1 and "no active account" in unknown.stdout
    tenant_role = await quarry_operator(
        "grant", person.email, "--role", "owner", data_dir=gateway_settings.data_dir, cwd=tmp_path
    )
    assert tenant_role.returncode == 2 and "no platform role" in tenant_role.stdout
    elsewhere = await quarry_operator("grant", person.email, data_dir=tmp_path / "nowhere", cwd=tmp_path)
    assert elsewhere.returncode == 2 and "no gateway store" in elsewhere.stdout
    assert (await person.get("/v1/ops/streams")).status_code == 403


def _age_s(at: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(at.replace("Z", "+00:00"))).total_seconds()


async def test_the_platform_admin_reads_the_platform_audit_newest_first_and_so_does_the_cli(
    gateway: httpx.AsyncClient, gateway_settings: GatewaySettings, tmp_path: Path
) -> None:
    admin, operator = await sign_up(gateway), await sign_up(gateway)
    for who, role in ((admin, "platform_admin"), (operator, "platform_operator")):
        done = await quarry_operator(
            "grant", who.email, "--role", role, data_dir=gateway_settings.data_dir, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr + done.stdout
    assert (await operator.get("/v1/ops/streams")).status_code == 200
    assert (await operator.get("/v1/ops/audit")).status_code == 403  # an operator does not audit operators

    first = await admin.get("/v1/ops/audit?limit=2")
    assert first.status_code == 200, first.text
    page = first.json()
    # Newest first: this very read, then the operator's refused one is not there (refused before it was
    # let in), then the operator's read of the streams.
    assert [e["kind"] for e in page["entries"]] == ["ops.read", "ops.read"]
    mine, theirs = page["entries"]
    assert (mine["actor"]["name"], mine["target"]) == (admin.email, "GET /v1/ops/audit")
    assert (theirs["actor"]["name"], theirs["target"]) == (operator.email, "GET /v1/ops/streams")
    assert mine["seq"] > theirs["seq"] and page["next_before"] == theirs["seq"]
    older = (await admin.get(f"/v1/ops/audit?before={page['next_before']}&kind=operator.granted")).json()
    assert [e["detail"]["email"] for e in older["entries"][:2]] == [operator.email, admin.email]
    assert all(e["actor"]["name"].startswith("cli:") for e in older["entries"])
    by_actor = (await admin.get(f"/v1/ops/audit?{urlencode({'actor': operator.email})}")).json()["entries"]
    assert {e["actor"]["name"] for e in by_actor} == {operator.email}
    assert (await admin.get("/v1/ops/audit?kind=drop.table")).status_code == 400
    assert (await admin.get("/v1/ops/audit?limit=501")).status_code == 422

    printed = await quarry_operator(
        "audit", "--limit", "3", "--kind", "ops.read", data_dir=gateway_settings.data_dir, cwd=tmp_path
    )
    assert printed.returncode == 0, printed.stderr + printed.stdout
    assert "GET /v1/ops/audit" in printed.stdout and admin.email in printed.stdout
    assert "operator.granted" not in printed.stdout
