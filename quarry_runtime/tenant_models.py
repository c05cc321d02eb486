"""Per-tenant model endpoints: which OpenAI-compatible chat endpoint serves a tenant.

The gateway writes the setting (its API owns tenant configuration) and the analyst reads it, both
through the JetStream key-value bucket `quarry_tenant_models` keyed by tenant id, so neither imports
the other and nothing of it travels in an event (events are the audit log, replayed and shown to
operators; a secret must never be in one). The endpoint's API key is sealed with AES-256-GCM under
a key derived from `QUARRY_SECRETS_KEY`, with the tenant id and the endpoint's URL as associated
data: a copy of the bucket reveals no key, and a sealed key moved to another tenant's entry, or to
another URL (where it would be sent to whoever answers there), does not open.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import nats.errors
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError

from quarry_runtime.buckets import Buckets
from quarry_runtime.settings import DEFAULT_KV_MAX_BYTES

log = logging.getLogger(__name__)

BUCKET = "quarry_tenant_models"
# Like the gateway's JWT secret: a development default, refused in production (see `secrets_key_problem`).
DEV_SECRETS_KEY = "development-only-secrets-key-change-me-000"
PLACEHOLDER_SECRETS_KEYS = {"", "changeme", "change-me", "secret", DEV_SECRETS_KEY}
_SEALED_PREFIX = "v2."
# v1 bound a key to its tenant only; such a key could be moved to another URL, so it no longer
# opens: `TenantModels.reseal_legacy` binds each to the URL stored beside it, once, by an operator.
_LEGACY_PREFIX = "v1."
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


class LegacySecret(SecretError):
    """A key sealed before keys were bound to their endpoint URL: set it again, or reseal it."""


def key_context(tenant_id: str, base_url: str) -> tuple[str, str]:
    """What a tenant's model API key is bound to: its tenant and the URL it is sent to."""
    return (tenant_id, base_url)


class SecretBox:
    """AES-256-GCM under a key derived (HKDF-SHA256) from the deployment's secrets key."""

    def __init__(self, secrets_key: str) -> None:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"quarry tenant secrets v1")
        self._aead = AESGCM(hkdf.derive(secrets_key.encode()))

    def seal(self, plaintext: str, *, context: tuple[str, ...]) -> str:
        """`plaintext` encrypted with a fresh nonce, bound to every part of `context`."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), _associated(context))
        return _SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, *, context: tuple[str, ...]) -> str:
        """The plaintext of `seal(..., context=context)`; `SecretError` if it does not open."""
        if sealed.startswith(_LEGACY_PREFIX):
            raise LegacySecret(
                "the model API key was sealed before keys were bound to their endpoint URL: set it again"
                " (PUT /v1/tenant/model) or have an operator run `quarry reseal-model-keys`"
            )
        if not sealed.startswith(_SEALED_PREFIX):
            raise SecretError("not a sealed secret of a known version")
        return self._decrypt(sealed[len(_SEALED_PREFIX) :], _associated(context))

    def open_legacy(self, sealed: str, *, tenant_id: str) -> str:
        """A v1 key (bound to its tenant only), for `TenantModels.reseal_legacy` alone."""
        if not sealed.startswith(_LEGACY_PREFIX):
            raise SecretError("not a v1 sealed secret")
        return self._decrypt(sealed[len(_LEGACY_PREFIX) :], tenant_id.encode())

    def _decrypt(self, body: str, associated: bytes) -> str:
        try:
            raw = base64.urlsafe_b64decode(body.encode())
            return self._aead.decrypt(raw[:12], raw[12:], associated).decode()
        except (InvalidTag, ValueError) as exc:
            raise SecretError(
                "the sealed secret does not open with this QUARRY_SECRETS_KEY for this tenant and endpoint URL"
            ) from exc


def _associated(context: tuple[str, ...]) -> bytes:
    # JSON, not a join: ("a|b", "c") and ("a", "b|c") must not give the same associated data.
    return json.dumps(list(context), separators=(",", ":")).encode()


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


def tenant_of_key(key: str) -> str:
    """The tenant id of a bucket key (the inverse of `kv_key`)."""
    return bytes.fromhex(key[2:]).decode() if key.startswith("h.") else key


class TenantModels:
    """The bucket, read with a short-lived cache that a watch on the bucket invalidates early."""

    def __init__(
        self,
        jetstream: Callable[[], JetStreamContext],
        secrets_key: str,
        *,
        replicas: int,
        max_bytes: int = DEFAULT_KV_MAX_BYTES,
        ttl_s: float = 30.0,
        max_cached: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._box = SecretBox(secrets_key)
        self._ttl_s = ttl_s
        self._clock = clock
        self._kv = Buckets(jetstream, replicas=replicas, kv_max_bytes=max_bytes).key_value(BUCKET)
        # Bounded: every tenant that ever ran a model task would otherwise keep an entry for ever.
        self._max_cached = max_cached
        self._cache: OrderedDict[str, tuple[float, StoredEndpoint | None]] = OrderedDict()

    @property
    def cached(self) -> int:
        """How many tenants' entries are cached."""
        return len(self._cache)

    async def put(self, tenant_id: str, endpoint: ModelEndpoint, *, updated_by: str) -> StoredEndpoint:
        """Replace the tenant's endpoint; the key is sealed before it leaves this process."""
        context = key_context(tenant_id, endpoint.base_url)
        sealed = self._box.seal(endpoint.api_key, context=context) if endpoint.api_key else None
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
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)
        return found

    async def endpoint(self, tenant_id: str) -> ModelEndpoint | None:
        """The tenant's endpoint with its key opened; None when it has none. `SecretError` if the key
        does not open (the gateway sealed it under another `QUARRY_SECRETS_KEY`)."""
        stored = await self.stored(tenant_id)
        if stored is None:
            return None
        context = key_context(tenant_id, stored.base_url)
        key = self._box.open(stored.sealed_key, context=context) if stored.sealed_key else None
        return ModelEndpoint(stored.base_url, stored.model, key)

    def last4(self, tenant_id: str, stored: StoredEndpoint) -> str | None:
        """The last four characters of the stored key, for a person to recognise it; None if it has
        none or it does not open."""
        if not stored.sealed_key:
            return None
        try:
            return self._box.open(stored.sealed_key, context=key_context(tenant_id, stored.base_url))[-4:]
        except SecretError:
            return None

    async def reseal_legacy(self) -> int:
        """Bind every v1 sealed key to the URL stored beside it now; returns how many were resealed.

        Run once by an operator after upgrading: it trusts the URLs in the bucket at that moment.
        Each entry is replaced only if unchanged since it was read, so a tenant's concurrent PUT wins.
        """
        kv = await self._kv.open()
        try:
            keys = await kv.keys()
        except NoKeysError:
            return 0
        resealed = 0
        for key in keys:
            entry = await kv.get(key)
            if not entry.value:
                continue
            stored = StoredEndpoint.from_json(entry.value)
            if not stored.sealed_key or not stored.sealed_key.startswith(_LEGACY_PREFIX):
                continue
            tenant_id = tenant_of_key(key)
            plaintext = self._box.open_legacy(stored.sealed_key, tenant_id=tenant_id)
            bound = self._box.seal(plaintext, context=key_context(tenant_id, stored.base_url))
            try:
                await kv.update(key, replace(stored, sealed_key=bound).to_json(), last=entry.revision)
            except KeyWrongLastSequenceError:
                continue
            self._cache.pop(key, None)
            resealed += 1
        return resealed

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
