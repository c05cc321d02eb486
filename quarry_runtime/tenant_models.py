"""Per-tenant model endpoints: which OpenAI-compatible chat endpoint serves a tenant.

The gateway writes the setting (its API owns tenant configuration) and the analyst reads it, both
through the JetStream key-value bucket `quarry_tenant_models` keyed by tenant id, so neither imports
the other and nothing of it travels in an event (events are the audit log, replayed and shown to
operators; a secret must never be in one). The endpoint's API key is sealed with AES-256-GCM under
a key derived from `QUARRY_SECRETS_KEY`, with the tenant id as associated data: a copy of the bucket
reveals no key, and a sealed key moved to another tenant's entry does not open.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nats.errors
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError

from quarry_runtime.kv import KeyValueBucket
from quarry_runtime.settings import DEFAULT_KV_MAX_BYTES

log = logging.getLogger(__name__)

BUCKET = "quarry_tenant_models"
# Like the gateway's JWT secret: a development default, refused in production (see `secrets_key_problem`).
DEV_SECRETS_KEY = "development-only-secrets-key-change-me-000"
PLACEHOLDER_SECRETS_KEYS = {"", "changeme", "change-me", "secret", DEV_SECRETS_KEY}
_SEALED_PREFIX = "v1."
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def secrets_key_problem(environment: str, secrets_key: str) -> str | None:
    """Why the settings must not start with this key, or None (for the settings validators)."""
    if environment == "production" and secrets_key in PLACEHOLDER_SECRETS_KEYS:
        return "QUARRY_SECRETS_KEY must be set to a real secret in production (it seals tenants' model API keys)"
    return None


class Unavailable(Exception):
    """The bucket could not be read (the bus is down or slow): worth trying again later."""


class SecretError(Exception):
    """A sealed secret does not open: another `QUARRY_SECRETS_KEY`, another tenant, or tampered with."""


class SecretBox:
    """AES-256-GCM under a key derived (HKDF-SHA256) from the deployment's secrets key."""

    def __init__(self, secrets_key: str) -> None:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"quarry tenant secrets v1")
        self._aead = AESGCM(hkdf.derive(secrets_key.encode()))

    def seal(self, plaintext: str, *, context: str) -> str:
        """`plaintext` encrypted with a fresh nonce, bound to `context` (the tenant id)."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return _SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, *, context: str) -> str:
        """The plaintext of `seal(..., context=context)`; `SecretError` if it does not open."""
        if not sealed.startswith(_SEALED_PREFIX):
            raise SecretError("not a sealed secret of a known version")
        try:
            raw = base64.urlsafe_b64decode(sealed[len(_SEALED_PREFIX) :].encode())
            return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise SecretError("the sealed secret does not open with this QUARRY_SECRETS_KEY for this tenant") from exc


@dataclass(frozen=True)
class ModelEndpoint:
    """A tenant's chat endpoint with its API key in plain text: held in memory only."""

    base_url: str
    model: str
    api_key: str | None = None


@dataclass(frozen=True)
class StoredEndpoint:
    """A tenant's entry as stored: the key sealed, never in plain text."""

    base_url: str
    model: str
    sealed_key: str | None
    updated_at: float
    updated_by: str

    def to_json(self) -> bytes:
        body = {
            "base_url": self.base_url,
            "model": self.model,
            "api_key_sealed": self.sealed_key,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }
        return json.dumps(body).encode()

    @classmethod
    def from_json(cls, data: bytes) -> StoredEndpoint:
        body: dict[str, Any] = json.loads(data)
        return cls(
            base_url=str(body["base_url"]),
            model=str(body["model"]),
            sealed_key=body.get("api_key_sealed"),
            updated_at=float(body.get("updated_at", 0.0)),
            updated_by=str(body.get("updated_by", "")),
        )


def kv_key(tenant_id: str) -> str:
    """The bucket key of a tenant: its id when that is a valid key (ids are UUIDs), else hex."""
    return tenant_id if _SAFE_KEY.match(tenant_id) else "h." + tenant_id.encode().hex()


class TenantModels:
    """The bucket, read with a short-lived cache that a watch on the bucket invalidates early."""

    def __init__(
        self,
        jetstream: Callable[[], JetStreamContext],
        secrets_key: str,
        *,
        replicas: int = 1,
        max_bytes: int = DEFAULT_KV_MAX_BYTES,
        ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._box = SecretBox(secrets_key)
        self._ttl_s = ttl_s
        self._clock = clock
        self._kv = KeyValueBucket(jetstream, BUCKET, replicas=replicas, max_bytes=max_bytes)
        self._cache: dict[str, tuple[float, StoredEndpoint | None]] = {}

    async def put(self, tenant_id: str, endpoint: ModelEndpoint, *, updated_by: str) -> StoredEndpoint:
        """Replace the tenant's endpoint; the key is sealed before it leaves this process."""
        sealed = self._box.seal(endpoint.api_key, context=tenant_id) if endpoint.api_key else None
        stored = StoredEndpoint(endpoint.base_url, endpoint.model, sealed, time.time(), updated_by)
        try:
            await (await self._kv.open()).put(kv_key(tenant_id), stored.to_json())
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(f"{BUCKET} could not be written: {exc!r}") from exc
        self._cache.pop(kv_key(tenant_id), None)
        return stored

    async def delete(self, tenant_id: str) -> None:
        """Forget the tenant's endpoint (its runs use the service default again)."""
        try:
            await (await self._kv.open()).delete(kv_key(tenant_id))
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(f"{BUCKET} could not be written: {exc!r}") from exc
        self._cache.pop(kv_key(tenant_id), None)

    async def stored(self, tenant_id: str, *, fresh: bool = False) -> StoredEndpoint | None:
        """The tenant's entry as stored (cached up to `ttl_s` unless `fresh`)."""
        key = kv_key(tenant_id)
        cached = self._cache.get(key)
        if not fresh and cached is not None and self._clock() - cached[0] < self._ttl_s:
            return cached[1]
        try:
            entry = await (await self._kv.open()).get(key)
        except KeyNotFoundError:
            found = None
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(f"{BUCKET} could not be read: {exc!r}") from exc
        else:
            found = StoredEndpoint.from_json(entry.value) if entry.value else None
        self._cache[key] = (self._clock(), found)
        return found

    async def endpoint(self, tenant_id: str) -> ModelEndpoint | None:
        """The tenant's endpoint with its key opened; None when it has none. `SecretError` if the key
        does not open (the gateway sealed it under another `QUARRY_SECRETS_KEY`)."""
        stored = await self.stored(tenant_id)
        if stored is None:
            return None
        key = self._box.open(stored.sealed_key, context=tenant_id) if stored.sealed_key else None
        return ModelEndpoint(stored.base_url, stored.model, key)

    def last4(self, tenant_id: str, stored: StoredEndpoint) -> str | None:
        """The last four characters of the stored key, for a person to recognise it; None if it has
        none or it does not open."""
        if not stored.sealed_key:
            return None
        try:
            return self._box.open(stored.sealed_key, context=tenant_id)[-4:]
        except SecretError:
            return None

    async def watch(self) -> None:
        """Drop cached entries as soon as they change, until cancelled (a background job).

        The cache's time limit still bounds staleness if the watch is interrupted (it is restarted).
        """
        while True:
            watcher = None
            try:
                watcher = await (await self._kv.open()).watchall(meta_only=True)
                async for entry in watcher:
                    if entry is not None:
                        self._cache.pop(entry.key, None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a lost watch only makes the cache rely on its TTL
                log.warning("watch of %s interrupted (%s); restarting", BUCKET, exc)
                self._cache.clear()
                await asyncio.sleep(1.0)
            finally:
                if watcher is not None:
                    try:
                        await watcher.stop()  # type: ignore[no-untyped-call]
                    except Exception:  # noqa: BLE001 - the connection may be gone already
                        pass
