"""People on the gateway in tests: a tenant's owner signed up through the API, and platform
operators granted their role by `quarry operator` on the store the running gateway uses."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from services.gateway.settings import GatewaySettings
from tests.support.gateway import PASSWORD
from tests.support.operators import quarry_operator


class Person:
    """Someone signed in on the gateway: each request carries their token."""

    def __init__(self, http: httpx.AsyncClient, email: str, token: str) -> None:
        self.http, self.email = http, email
        self.headers = {"Authorization": f"Bearer {token}"}

    async def get(self, path: str) -> httpx.Response:
        return await self.http.get(path, headers=self.headers)

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.http.post(path, headers=self.headers, json=body)


async def sign_up(http: httpx.AsyncClient) -> Person:
    """The owner of a new tenant."""
    name = f"t{uuid.uuid4().hex[:8]}"
    email = f"{name}@example.com"
    r = await http.post("/v1/auth/signup", json={"email": email, "password": PASSWORD, "tenant_name": name})
    assert r.status_code == 201, r.text
    return Person(http, email, r.json()["access_token"])


async def granted(http: httpx.AsyncClient, settings: GatewaySettings, tmp_path: Path, role: str) -> Person:
    """A new tenant's owner whom `quarry operator grant` (run from `tmp_path`) gave platform `role`."""
    person = await sign_up(http)
    done = await quarry_operator("grant", person.email, "--role", role, data_dir=settings.data_dir, cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    return person


class Platform(NamedTuple):
    """Who the operators' routes tell apart: a tenant's owner (no operator), a platform operator
    (reads) and a platform admin (changes)."""

    owner: Person
    operator: Person
    admin: Person


async def platform(http: httpx.AsyncClient, settings: GatewaySettings, tmp_path: Path) -> Platform:
    """One of each, new."""
    return Platform(
        owner=await sign_up(http),
        operator=await granted(http, settings, tmp_path, "platform_operator"),
        admin=await granted(http, settings, tmp_path, "platform_admin"),
    )
