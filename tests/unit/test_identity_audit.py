"""The audit log (gateway in process, SQLite): changes to members, roles, keys and settings are
recorded with actor, time and source address, for owners and admins of the tenant alone."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from contracts import subjects
from contracts.billing import CheckoutReply, EntitlementsReply, PortalReply
from contracts.credits import PlanChanged, PlanChangedPayload
from contracts.envelope import Actor
from quarry_runtime.store import SqlDatabase
from services.gateway.adapters.audit import AuditStore
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed, project
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings
from tests.support.gateway import Caller, signup


def join(http: TestClient, inviter: Caller, email: str, role: str) -> Caller:
    invite = inviter("POST", "/v1/members", json={"email": email, "role": role}).json()["invite_token"]
    accepted = http.post("/v1/auth/accept", json={"invite_token": invite, "password": "a-fine-password-9"})
    return Caller(http, accepted.json()["access_token"])


def test_changes_are_recorded_with_actor_time_and_address(http: TestClient) -> None:
    owner = signup(http, "acme")
    admin = join(http, owner, "ada@example.com", "admin")
    member = join(http, admin, "mo@example.com", "member")
    assert admin("PATCH", f"/v1/members/{member.user_id}", json={"role": "viewer"}).status_code == 200
    key = owner("POST", "/v1/keys", json={"name": "ci", "scopes": ["runs:read", "audit:read"]}).json()
    assert owner("DELETE", f"/v1/keys/{key['key_id']}").status_code == 204
    assert admin("PATCH", "/v1/tenant/settings", json={"approval_required": True}).status_code == 200
    assert admin("DELETE", f"/v1/members/{member.user_id}").status_code == 204
    # Refused changes change nothing and are not logged.
    assert admin("PATCH", f"/v1/members/{owner.user_id}", json={"role": "viewer"}).status_code == 403

    log = admin("GET", "/v1/audit")
    assert log.status_code == 200
    entries = log.json()["entries"]
    assert [(e["kind"], e["actor"]["user_id"]) for e in entries] == [
        ("member.invited", owner.user_id),
        ("member.invited", admin.user_id),
        ("member.role_changed", admin.user_id),
        ("api_key.created", owner.user_id),
        ("api_key.revoked", owner.user_id),
        ("settings.changed", admin.user_id),
        ("member.removed", admin.user_id),
    ]
    assert entries[2]["target"] == member.user_id and entries[2]["detail"]["role"] == "viewer"
    assert entries[3]["detail"]["scopes"] == ["audit:read", "runs:read"] and "api_key" not in entries[3]["detail"]
    assert entries[5]["detail"] == {"approval_required": True}
    assert all(e["source_address"] == "testclient" for e in entries)  # Starlette's test client's address
    assert all(datetime.fromisoformat(e["at"]).tzinfo is not None for e in entries)
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs) and log.json()["next_after"] == seqs[-1]


def test_the_log_pages_filters_by_kind_or_area_and_is_the_tenants_own(http: TestClient) -> None:
    owner = signup(http, "beta")
    other = signup(http, "gamma")
    for i in range(3):
        assert owner("POST", "/v1/members", json={"email": f"m{i}@example.com"}).status_code == 201
    assert owner("POST", "/v1/keys", json={"name": "k", "scopes": ["runs:read"]}).status_code == 201
    assert other("POST", "/v1/members", json={"email": "x@example.com"}).status_code == 201

    first = owner("GET", "/v1/audit", params={"limit": 2}).json()
    rest = owner("GET", "/v1/audit", params={"after": first["next_after"]}).json()
    assert len(first["entries"]) == 2 and len(rest["entries"]) == 2
    assert [e["kind"] for e in owner("GET", "/v1/audit", params={"kind": "member"}).json()["entries"]] == [
        "member.invited"
    ] * 3
    assert [e["kind"] for e in owner("GET", "/v1/audit", params={"kind": "api_key.created"}).json()["entries"]] == [
        "api_key.created"
    ]
    assert owner("GET", "/v1/audit", params={"kind": "api"}).json()["entries"] == [], "an area is a whole word"
    assert owner("GET", "/v1/audit", params={"kind": "x' OR 1=1"}).status_code == 422
    assert owner("GET", "/v1/audit", params={"limit": 10_000}).status_code == 422
    theirs = other("GET", "/v1/audit").json()["entries"]
    assert [e["detail"]["email"] for e in theirs] == ["x@example.com"]


def test_only_owners_and_admins_read_it(http: TestClient) -> None:
    owner = signup(http, "delta")
    member = join(http, owner, "mem@example.com", "member")
    viewer = join(http, owner, "vi@example.com", "viewer")
    assert member("GET", "/v1/audit").status_code == 403
    assert viewer("GET", "/v1/audit").status_code == 403
    assert owner("GET", "/v1/audit").status_code == 200


def test_an_unknown_kind_is_a_programming_error_and_a_huge_detail_is_cut(tmp_path: Path) -> None:
    db = SqlDatabase(GatewaySettings(data_dir=tmp_path), "gateway")
    audit = AuditStore(db)
    with pytest.raises(ValueError, match="unknown audit kind"):
        audit.record("t", "made.up", user_id="u", key_id=None, source_address="a", target=None, detail={})
    audit.record("t", "model.set", user_id="u", key_id=None, source_address="a", target=None, detail={"x": "y" * 9000})
    assert audit.entries("t", after=0, limit=10, kind=None)[0]["detail"] == {"truncated": True}
    db.close()


class Billing:
    """Stands in for the billing service's request/reply on the bus: answers each request with the
    next reply (the plan /v1/auth/me shows is asked apart, and unknown here)."""

    def __init__(self, *replies: BaseModel) -> None:
        self.replies = list(replies)
        self.broker = self
        self.connection = self

    async def request(self, subject: str, data: bytes, **_: Any) -> Any:
        if subject == subjects.BILLING_ENTITLEMENTS:
            return SimpleNamespace(data=EntitlementsReply(error="not in this test").model_dump_json().encode())
        return SimpleNamespace(data=self.replies.pop(0).model_dump_json().encode())


def test_checkouts_and_portal_visits_are_recorded_refusals_are_not(tmp_path: Path) -> None:
    settings = GatewaySettings(data_dir=tmp_path)
    db = SqlDatabase(settings, "gateway")
    billing = Billing(
        CheckoutReply(error="no such pack", status=422),
        CheckoutReply(session_id="cs_1", url="https://pay.example/cs_1", mode="live"),
        PortalReply(url="https://pay.example/portal"),
    )
    parts = Components(settings, GatewayStore(db), cast(Any, billing), RunFeed(), cast(Any, None), MonitorStore(db))
    http = TestClient(create_app(parts))
    owner = signup(http, "epsilon")

    assert owner("POST", "/v1/billing/checkout", json={"kind": "pack", "item": "pack_1m"}).status_code == 422
    assert owner("POST", "/v1/billing/checkout", json={"kind": "pack", "item": "pack_1k"}).status_code == 201
    assert owner("POST", "/v1/billing/portal", json={}).status_code == 200

    entries = owner("GET", "/v1/audit", params={"kind": "billing"}).json()["entries"]
    assert [(e["kind"], e["target"], e["detail"].get("kind")) for e in entries] == [
        ("billing.checkout", "pack_1k", "pack"),
        ("billing.portal", None, None),
    ]
    db.close()


def test_a_plan_change_billing_applied_is_recorded_once(tmp_path: Path) -> None:
    db = SqlDatabase(GatewaySettings(data_dir=tmp_path), "gateway")
    store = GatewayStore(db)
    changed = PlanChanged.create(
        PlanChangedPayload(plan="pro", previous="free"), tenant_id="t1", actor=Actor(user_id="u1")
    )
    for _ in range(2):  # a redelivery changes nothing
        project(store, MonitorStore(db), changed)

    entries = store.audit.entries("t1", after=0, limit=10, kind="billing")
    assert [(e["kind"], e["target"], e["detail"], e["actor"]["user_id"], e["source_address"]) for e in entries] == [
        ("billing.plan_changed", "pro", {"previous": "free"}, "u1", "bus")
    ]
    db.close()
