"""A tenant's sealed model API key over a real JetStream bucket: rewriting the URL stored beside it
(to send the key to another server) leaves a key that does not open; keys sealed before the URL was
bound are refused until an operator reseals them to the URL stored with each."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nats.aio.client import Client

from quarry_runtime.tenant_models import BUCKET, LegacySecret, ModelEndpoint, SecretError, TenantModels, kv_key

pytestmark = pytest.mark.infra

SECRETS_KEY = "a-secrets-key-for-the-integration-tests!"
KEY = "sk-tenant-0123456789-abcdWXYZ"
URL = "https://models.example/v1"


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


async def _rewrite(nc: Client, tenant_id: str, **changes: object) -> None:
    kv = await nc.jetstream().key_value(BUCKET)
    entry = await kv.get(kv_key(tenant_id))
    assert entry.value is not None
    await kv.put(kv_key(tenant_id), json.dumps(json.loads(entry.value) | changes).encode())


async def test_a_sealed_key_moved_to_another_url_does_not_open(nc: Client) -> None:
    models = TenantModels(lambda: nc.jetstream(), SECRETS_KEY, replicas=1, ttl_s=0.0)
    tenant = str(uuid.uuid4())
    await models.put(tenant, ModelEndpoint(URL, "m", KEY), updated_by="owner")
    assert (await models.endpoint(tenant)) == ModelEndpoint(URL, "m", KEY)
    # Someone who can write the bucket (not read the key) points the entry at their own server.
    await _rewrite(nc, tenant, base_url="https://attacker.example/v1")
    with pytest.raises(SecretError):
        await models.endpoint(tenant)
    stored = await models.stored(tenant, fresh=True)
    assert stored is not None and models.last4(tenant, stored) is None


def _v1_seal(tenant_id: str, plaintext: str) -> str:
    """A key as the gateway sealed it before keys were bound to their URL (tenant id alone)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"quarry tenant secrets v1")
    nonce = os.urandom(12)
    body = AESGCM(hkdf.derive(SECRETS_KEY.encode())).encrypt(nonce, plaintext.encode(), tenant_id.encode())
    return "v1." + base64.urlsafe_b64encode(nonce + body).decode()


async def test_a_legacy_key_is_refused_until_resealed_to_its_stored_url(nc: Client) -> None:
    models = TenantModels(lambda: nc.jetstream(), SECRETS_KEY, replicas=1, ttl_s=0.0)
    tenants = [str(uuid.uuid4()), "acme corp/eu"]
    for tenant in tenants:
        await models.put(tenant, ModelEndpoint(URL, "m", None), updated_by="owner")
        await _rewrite(nc, tenant, api_key_sealed=_v1_seal(tenant, KEY))
        with pytest.raises(LegacySecret):
            await models.endpoint(tenant)
    assert await models.reseal_legacy() >= len(tenants)
    for tenant in tenants:
        assert (await models.endpoint(tenant)) == ModelEndpoint(URL, "m", KEY)
    assert await models.reseal_legacy() == 0  # nothing left to reseal
