"""The gateway's HTTP API in process, and a signed-in caller of it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from contracts.billing import Entitlements, EntitlementsQuery
from contracts.envelope import Event
from quarry_runtime.store import SqlDatabase
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.entitlements import EntitlementsCache
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings

PASSWORD = "long-enough-1"
JWT_SECRET = "an-integration-test-secret-of-32-bytes!"


@dataclass
class KeptBus:
    """A gateway's bus that keeps what the routes publish instead of sending it."""

    published: list[Event] = field(default_factory=list)

    async def publish(self, event: Event) -> None:
        self.published.append(event)


@contextlib.contextmanager
def offline_gateway(data_dir: Path, bus: object = None) -> Iterator[tuple[TestClient, GatewayStore]]:
    """The API on SQLite under `data_dir`, without its lifespan: no artifact store, and no bus
    unless `bus` stands in for its request/reply connection (`billing_bus.BillingOnTheBus`), so
    only what needs neither answers (a settled run's stream waits on the feed only briefly)."""
    settings = GatewaySettings(data_dir=data_dir)
    db = SqlDatabase(settings, "gateway")
    store = GatewayStore(db)
    parts = Components(settings, store, cast(Any, bus), RunFeed(), cast(Any, None), MonitorStore(db))
    try:
        yield TestClient(create_app(parts)), store
    finally:
        db.close()


def limited_app(
    settings: GatewaySettings, db: SqlDatabase, bus: object, ask: Callable[[EntitlementsQuery], Awaitable[Entitlements]]
) -> FastAPI:
    """The API on `db`, publishing to `bus` (a recording stand-in), whose plan limits come from
    `ask` (billing's answer to an entitlements query)."""
    parts = Components(
        settings,
        GatewayStore(db),
        cast(Any, bus),
        RunFeed(),
        cast(Any, None),
        MonitorStore(db),
        entitlements=EntitlementsCache(ask, ttl_s=60),
    )
    return create_app(parts)


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every route among `routes` (an app's), however deep the routers that added it are."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)  # FastAPI wraps each included router
        if inner is not None:
            yield from api_routes(inner.routes)


@contextlib.asynccontextmanager
async def asgi_client(app: FastAPI, timeout_s: float = 15) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of `app` in process, with the app's lifespan (bus, consumers) around it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=timeout_s) as http:
            yield http


class Caller:
    """A signed-in user of an in-process gateway: `caller("GET", path)` carries the token."""

    def __init__(self, http: TestClient, token: str) -> None:
        self.http, self.token = http, token
        self.headers = {"Authorization": f"Bearer {token}"}

    def __call__(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.http.request(method, path, headers=self.headers, **kwargs)

    @cached_property
    def me(self) -> dict[str, Any]:
        me: dict[str, Any] = self("GET", "/v1/auth/me").json()
        return me

    @property
    def user_id(self) -> str:
        return str(self.me["user_id"])

    @property
    def tenant_id(self) -> str:
        return str(self.me["tenant_id"])


def signup(http: TestClient, name: str, password: str = PASSWORD) -> Caller:
    """The owner of a new tenant called `name`."""
    r = http.post("/v1/auth/signup", json={"email": f"{name}@example.com", "password": password, "tenant_name": name})
    assert r.status_code == 201, r.text
    return Caller(http, r.json()["access_token"])


async def new_tenant(http: httpx.AsyncClient) -> tuple[str, str]:
    """Signs up the owner of a new tenant with a random name: the owner's token and the tenant's id."""
    name = f"t{uuid.uuid4().hex[:8]}"
    r = await http.post(
        "/v1/auth/signup", json={"email": f"{name}@example.com", "password": PASSWORD, "tenant_name": name}
    )
    assert r.status_code == 201, r.text
    return r.json()["access_token"], r.json()["tenant_id"]
