"""Tenants' own model endpoints over a real JetStream: the gateway's API stores them (key sealed,
never shown), admins set them, members may not, and tenants stay apart."""

from __future__ import annotations

from typing import Any

import httpx
import nats
import pytest

from quarry_runtime.tenant_models import BUCKET, kv_key
from tests.support.tenant_models import KEY, gateway_settings, signup

pytestmark = pytest.mark.infra
__all__ = ["gateway_settings"]  # the fixture


@pytest.mark.parametrize(
    "body",
    [
        {"base_url": "ftp://models.example/v1", "model": "m"},
        {"base_url": "models.example/v1", "model": "m"},
        {"base_url": "https://user:pw@models.example/v1", "model": "m"},
        {"base_url": "https://models.example/v1?key=x", "model": "m"},
        {"base_url": "https://models.example:99999/v1", "model": "m"},
        {"base_url": "https://models.example/v1", "model": "  "},
        {"base_url": "https://models.example/v1"},
        {"base_url": "https://models.example/v1", "model": "m", "api_key": "has a space"},
        {"base_url": "https://models.example/v1", "model": "m", "api_key": "line\nbreak"},
    ],
)
async def test_an_unusable_setting_is_a_422_and_changes_nothing(gateway: httpx.AsyncClient, body: Any) -> None:
    owner = await signup(gateway)
    r = await owner.call("PUT", "/v1/tenant/model", body)
    assert r.status_code == 422, r.text
    assert (await owner.call("GET", "/v1/tenant/model")).json()["configured"] is False


async def test_admins_set_it_members_may_not_the_key_is_never_shown_and_tenants_are_apart(
    nats_url: str, gateway: httpx.AsyncClient
) -> None:
    owner = await signup(gateway)
    admin, member, viewer = [await owner.invite(role) for role in ("admin", "member", "viewer")]
    body = {"base_url": "https://models.example/v1/", "model": "llama-3.1-70b", "api_key": KEY}
    for who in (member, viewer):
        for method, payload in (("PUT", body), ("GET", None), ("DELETE", None)):
            r = await who.call(method, "/v1/tenant/model", payload)
            assert r.status_code == 403, (method, r.text)

    r = await admin.call("PUT", "/v1/tenant/model", body)
    assert r.status_code == 200, r.text
    seen = r.json()
    assert (seen["configured"], seen["base_url"], seen["model"]) == (True, "https://models.example/v1", "llama-3.1-70b")
    assert (seen["api_key_set"], seen["api_key_last4"]) == (True, "WXYZ")
    got = await owner.call("GET", "/v1/tenant/model")
    assert got.status_code == 200 and got.json() == seen
    assert KEY not in r.text and KEY not in got.text and KEY[:-4] not in got.text

    # At rest: the bucket holds the key sealed, not as text.
    nc = await nats.connect(nats_url)
    try:
        entry = await (await nc.jetstream().key_value(BUCKET)).get(kv_key(owner.tenant_id))
        assert entry.value is not None and KEY.encode() not in entry.value and KEY[:12].encode() not in entry.value
        assert b"api_key_sealed" in entry.value
    finally:
        await nc.close()

    # Another tenant sees none of it, and its own setting leaves the first one's alone.
    other = await signup(gateway)
    assert (await other.call("GET", "/v1/tenant/model")).json()["configured"] is False
    assert (await other.call("DELETE", "/v1/tenant/model")).status_code == 204
    mine = {"base_url": "http://127.0.0.1:9/v1", "model": "other-model"}
    assert (await other.call("PUT", "/v1/tenant/model", mine)).json()["api_key_set"] is False
    assert (await owner.call("GET", "/v1/tenant/model")).json() == seen

    # A PUT replaces the whole setting: a new URL without a key does not inherit the old key.
    r = await owner.call("PUT", "/v1/tenant/model", {"base_url": "https://elsewhere.example/v1", "model": "m"})
    assert (r.json()["api_key_set"], r.json()["api_key_last4"]) == (False, None)
    assert (await admin.call("DELETE", "/v1/tenant/model")).status_code == 204
    assert (await owner.call("GET", "/v1/tenant/model")).json()["configured"] is False
    assert (await other.call("GET", "/v1/tenant/model")).json()["model"] == "other-model"
