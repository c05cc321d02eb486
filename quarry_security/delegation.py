"""Delegation tokens: the agent acts for a user with a short-lived, narrowed, signed token.

RFC 8693 style: `sub` is the agent, `act.sub` the user it acts for, `scope` the tools it may
use (never more than the user's roles allow). Signed with Ed25519 by the orchestrator; anyone
holding the public key (published in a JetStream key-value bucket, by key id) can verify, and
nobody else can mint one.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from quarry_runtime.settings import DEFAULT_KV_MAX_BYTES

ISSUER = "quarry-orchestrator"
AUDIENCE = "quarry-policy"
ALGORITHM = "EdDSA"
DEFAULT_TTL_S = 300
KEY_BUCKET = "quarry_delegation_keys"

TOOL_SCOPES = frozenset(
    f"tool:{name}"
    for name in (
        "web_search",
        "fetch_url",
        "llm_generate",
        "index_memory",
        "publish_report",
        "read_dataset",
        "recall_memory",
        "answer_question",
    )
)
# What an agent acting for a user of each role may be allowed to do: never more than this.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "owner": TOOL_SCOPES,
    "admin": TOOL_SCOPES,
    "member": TOOL_SCOPES,
    "viewer": frozenset(),
}


class DelegationError(Exception):
    """The token is missing, expired, forged, aimed elsewhere, or wider than its user."""


def scopes_for(roles: Iterable[str]) -> frozenset[str]:
    """The union of what the user's roles allow."""
    return frozenset().union(*(ROLE_SCOPES.get(role, frozenset()) for role in roles))


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    kid: str

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """The key in `path`, made (mode 0600) on first use."""
        if path.exists():
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise DelegationError(f"{path} does not hold an Ed25519 private key")
        else:
            private = Ed25519PrivateKey.generate()
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            path.touch(mode=0o600)
            path.write_bytes(pem)
        raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return cls(private, hashlib.sha256(raw).hexdigest()[:16])

    def issue(
        self,
        *,
        agent: str,
        user_id: str | None,
        tenant_id: str,
        run_id: str | None,
        scopes: Iterable[str],
        ttl_s: int = DEFAULT_TTL_S,
        now: float | None = None,
    ) -> str:
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": agent,
            "act": {"sub": user_id},
            "tenant": tenant_id,
            "run_id": run_id,
            "scope": " ".join(sorted(scopes)),
            "iat": issued,
            "exp": issued + ttl_s,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self.private, algorithm=ALGORITHM, headers={"kid": self.kid})


PublicKeyLookup = Callable[[str], Awaitable[bytes | None]]


@dataclass(frozen=True)
class Delegation:
    agent: str
    user_id: str | None
    tenant_id: str
    scopes: frozenset[str]


async def verify(
    token: str | None,
    public_key: PublicKeyLookup,
    *,
    tenant_id: str,
    user_id: str | None,
    roles: Iterable[str],
    required_scope: str,
) -> Delegation:
    """The delegation the token proves, or `DelegationError` saying why it proves nothing."""
    if not token:
        raise DelegationError("no delegation token")
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise DelegationError(f"malformed token: {exc}") from exc
    pem = await public_key(str(kid)) if kid else None
    if pem is None:
        raise DelegationError(f"unknown signing key {kid!r}")
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise DelegationError(f"key {kid} is not an Ed25519 key")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise DelegationError("token expired") from exc
    except jwt.InvalidSignatureError as exc:
        raise DelegationError("forged token: bad signature") from exc
    except jwt.PyJWTError as exc:
        raise DelegationError(f"invalid token: {exc}") from exc
    if claims.get("tenant") != tenant_id:
        raise DelegationError("token issued for another tenant")
    acting_for = (claims.get("act") or {}).get("sub")
    if acting_for != user_id:
        raise DelegationError("token acts for another user")
    scopes = frozenset(str(claims.get("scope", "")).split())
    widened = scopes - scopes_for(roles)
    if widened:
        raise DelegationError(f"token wider than its user: {sorted(widened)}")
    if required_scope not in scopes:
        raise DelegationError(f"token does not cover {required_scope}")
    return Delegation(str(claims["sub"]), acting_for, tenant_id, scopes)


class KeyDirectory:
    """Public keys by key id, in a JetStream key-value bucket every service can read."""

    def __init__(
        self, connection: Callable[[], object], *, replicas: int, max_bytes: int = DEFAULT_KV_MAX_BYTES
    ) -> None:
        # `connection` returns the nats-py Client once connected (the bus connects at start).
        self._connection = connection
        self._replicas = replicas
        self._max_bytes = max_bytes
        self._cache: dict[str, bytes] = {}
        self._kv: object | None = None

    async def _bucket(self) -> object:
        if self._kv is None:
            from quarry_runtime.buckets import Buckets

            self._kv = Buckets(
                lambda: self._connection().jetstream(),  # type: ignore[attr-defined]
                replicas=self._replicas,
                kv_max_bytes=self._max_bytes,
            ).key_value(KEY_BUCKET)
        return await self._kv.open()  # type: ignore[attr-defined]

    async def publish(self, key: SigningKey) -> None:
        bucket = await self._bucket()
        await bucket.put(key.kid, key.public_pem)  # type: ignore[attr-defined]
        self._cache[key.kid] = key.public_pem

    async def lookup(self, kid: str) -> bytes | None:
        if kid in self._cache:
            return self._cache[kid]
        from nats.js.errors import KeyNotFoundError

        bucket = await self._bucket()
        try:
            entry = await bucket.get(kid)  # type: ignore[attr-defined]
        except KeyNotFoundError:
            return None
        if entry.value:
            self._cache[kid] = bytes(entry.value)
        return self._cache.get(kid)
