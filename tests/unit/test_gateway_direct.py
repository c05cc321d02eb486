"""`POST /v1/runs` is served by `api.direct` without FastAPI's dependency solving: it answers what
FastAPI's own handler answers, for a run it accepts and for every request it refuses (in process:
the gateway's app on a SQLite store, billing's entitlements from an in-memory ledger)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient

from contracts.billing import Entitlements, EntitlementsQuery
from contracts.run import RunRequested
from quarry_runtime.store import SqlDatabase
from services.billing.application import Billing
from services.billing.queries import entitlements
from services.gateway.api.deps import current_principal, requires
from services.gateway.api.direct import DirectRoute, is_json
from services.gateway.api.models.runs import RunAccepted, RunCreate
from services.gateway.errors import Forbidden
from services.gateway.security import Principal
from services.gateway.settings import GatewaySettings
from tests.support.gateway import KeptBus, limited_app

PASSWORD = "long-enough-password-1"
RUN = {"question": "How do generators work?", "depth": 1, "max_sources": 3}
# A JSON media type FastAPI reads and the direct path leaves to it: the same request, both ways.
VENDOR_JSON = "application/vnd.quarry+json"


@dataclass
class Gateway:
    http: TestClient
    bus: KeptBus
    token: str

    def post(self, body: bytes | str, content_type: str | None = "application/json", token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token if token is None else token}"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        return self.http.post("/v1/runs", content=body, headers=headers)

    def runs(self) -> list[RunRequested]:
        return [e for e in self.bus.published if isinstance(e, RunRequested)]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    db = SqlDatabase(GatewaySettings(data_dir=tmp_path), "gateway")
    billing = Billing(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})

    async def ask(query: EntitlementsQuery) -> Entitlements:
        return entitlements(billing, query)

    bus = KeptBus()
    http = TestClient(limited_app(GatewaySettings(data_dir=tmp_path), db, bus, ask))
    r = http.post("/v1/auth/signup", json={"email": "o@acme.example", "password": PASSWORD, "tenant_name": "acme"})
    assert r.status_code == 201, r.text
    yield Gateway(http, bus, r.json()["access_token"])
    db.close()


def test_the_route_is_served_directly() -> None:
    from services.gateway.api.routes.runs import router

    (route,) = [r for r in router.routes if getattr(r, "path", None) == "/v1/runs" and "POST" in r.methods]  # type: ignore[attr-defined]
    assert isinstance(route, DirectRoute)


def test_an_accepted_run_is_answered_as_fastapi_answers_it(gateway: Gateway) -> None:
    direct = gateway.post(json.dumps(RUN))
    standard = gateway.post(json.dumps(RUN), content_type=VENDOR_JSON)
    assert direct.status_code == standard.status_code == 202, (direct.text, standard.text)
    assert direct.headers["content-type"] == standard.headers["content-type"] == "application/json"
    # Byte for byte the same answer but for the run's id (compact JSON, fields in the model's order).
    one, other = direct.json()["run_id"], standard.json()["run_id"]
    assert one != other and direct.content == standard.content.replace(other.encode(), one.encode())
    assert direct.json()["links"]["report_pdf"] == f"/v1/runs/{one}/report.pdf"
    first, second = gateway.runs()
    assert first.run_id == direct.json()["run_id"] and second.run_id == standard.json()["run_id"]
    assert first.payload == second.payload and first.actor == second.actor
    # The run's view is written before the answer, whichever way it came.
    view = gateway.http.get(f"/v1/runs/{first.run_id}", headers={"Authorization": f"Bearer {gateway.token}"})
    assert view.status_code == 200 and view.json()["state"] == "requested"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"question": "How do generators work?", "depth": ', "application/json"),  # not JSON
        ('{"depth": 1}', "application/json"),  # no question
        ('{"question": "How?", "depth": 9}', "application/json; charset=utf-8"),  # out of range
        ("[1, 2]", "application/json"),  # not an object
        (json.dumps(RUN), "text/plain"),  # not a JSON media type
        (json.dumps(RUN), None),  # no media type
        ("", "application/json"),  # no body
        (b"\xff\xfe", "application/json"),  # not UTF-8
    ],
)
def test_a_refused_body_gets_fastapis_own_422(gateway: Gateway, body: str | bytes, content_type: str | None) -> None:
    r = gateway.post(body, content_type=content_type)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][0] == "body"
    assert gateway.runs() == []


def test_fastapis_order_of_refusals_is_kept(gateway: Gateway) -> None:
    # FastAPI reads the JSON before the dependencies run, and validates it after them.
    assert gateway.post("{", token="forged").status_code == 422
    assert gateway.post('{"depth": 1}', token="forged").status_code == 401
    r = gateway.post(json.dumps(RUN), token="forged")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert gateway.http.post("/v1/runs", json=RUN).status_code == 401  # neither header nor cookie
    assert gateway.runs() == []


def test_the_permission_is_checked_on_the_direct_path(gateway: Gateway) -> None:
    owner = {"Authorization": f"Bearer {gateway.token}"}
    r = gateway.http.post("/v1/members", json={"email": "v@acme.example", "role": "viewer"}, headers=owner)
    assert r.status_code == 201, r.text
    accepted = gateway.http.post(
        "/v1/auth/accept", json={"invite_token": r.json()["invite_token"], "password": PASSWORD}
    )
    viewer = accepted.json()["access_token"]
    r = gateway.post(json.dumps(RUN), token=viewer)
    assert r.status_code == 403 and "runs:create" in r.json()["detail"]
    assert gateway.runs() == []


def test_an_overridden_dependency_is_honoured(gateway: Gateway) -> None:
    app: Any = gateway.http.app

    async def nobody() -> Principal:
        raise Forbidden("overridden")

    app.dependency_overrides[current_principal] = nobody
    try:
        r = gateway.post(json.dumps(RUN))
    finally:
        app.dependency_overrides.clear()
    assert r.status_code == 403 and r.json()["detail"] == "overridden"
    assert gateway.post(json.dumps(RUN)).status_code == 202


@pytest.mark.parametrize(
    ("content_type", "direct"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/problem+json", False),
        ("application/jsonx", False),
        ("text/json", False),
        (None, False),
    ],
)
def test_only_plain_json_takes_the_direct_path(content_type: str | None, direct: bool) -> None:
    assert is_json(content_type) is direct


def test_a_route_with_a_dependency_it_cannot_serve_is_refused_at_startup() -> None:
    """A dependency the direct handler does not call itself (here a rate limit) would be skipped:
    declaring one on a direct route fails when the route is built, not silently per request."""
    router = APIRouter()

    async def rate_limit() -> None:
        raise AssertionError("never called: the route is refused first")

    async def endpoint(body: RunCreate, who: Annotated[Principal, requires("runs:create")]) -> RunAccepted:
        raise AssertionError("never called")

    with pytest.raises(TypeError, match="cannot serve the dependencies"):
        router.add_api_route(
            "/x",
            endpoint,
            methods=["POST"],
            dependencies=[Depends(rate_limit)],
            route_class_override=DirectRoute,
        )
