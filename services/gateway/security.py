"""Credentials: passwords (argon2id), access tokens (JWT carrying tenant and roles), API keys,
and the one-time secrets behind invites and stream tickets."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from contracts.envelope import Actor
from services.gateway.domain import permissions

_hasher = PasswordHasher()
ALGORITHM = "HS256"
ISSUER = "quarry-gateway"
API_KEY_PREFIX = "qk_"
STREAM_TICKET_PREFIX = "qt_"
INVITE_PREFIX = "qi_"
STREAM_TICKET_TTL_S = 60
INVITE_TTL_S = 7 * 24 * 3600


MIN_PASSWORD_LENGTH = 10
_COMMON_PASSWORDS = Path(__file__).with_name("common_passwords.txt")


@functools.cache
def _common_passwords() -> frozenset[str]:
    lines = _COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def password_problem(password: str) -> str | None:
    """Why the password may not be chosen (None when it may): too short, or so common that a
    guesser tries it among the first."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
    if password.lower() in _common_passwords():
        return "the password is on a list of commonly used passwords; choose another"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("not-a-password-of-anyone")


def burn_password_check(password: str) -> None:
    """Verify against a hash of nobody's password: when the email is unknown the answer then
    takes as long as a real check, so its timing does not tell which emails have an account."""
    verify_password(_dummy_hash(), password)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, with the user's current roles, possibly through an API key."""

    user_id: str
    tenant_id: str
    email: str
    roles: tuple[str, ...]
    scopes: frozenset[str] | None = None  # an API key's scopes; None: all the roles allow
    key_id: str | None = None

    @property
    def role(self) -> str | None:
        return permissions.highest(self.roles)

    @property
    def permissions(self) -> frozenset[str]:
        return permissions.effective(self.roles, self.scopes)

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def actor(self) -> Actor:
        """The actor the events and requests made for this caller name."""
        return Actor(user_id=self.user_id, roles=list(self.roles))


def issue_token(principal: Principal, secret: str, ttl_s: int) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": principal.user_id,
        "tenant": principal.tenant_id,
        "email": principal.email,
        "roles": list(principal.roles),
        "iat": now,
        "exp": now + ttl_s,
        # Names this token on the revocation list when its holder logs out.
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


class InvalidToken(Exception):
    """The bearer token is missing, expired, forged or malformed."""


@dataclass(frozen=True)
class TokenClaims:
    principal: Principal
    token_id: str  # the jti
    expires_at: float


def read_claims(token: str, secret: str) -> TokenClaims:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["exp", "sub", "jti"]}
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    principal = Principal(
        user_id=str(claims["sub"]),
        tenant_id=str(claims["tenant"]),
        email=str(claims.get("email", "")),
        roles=tuple(claims.get("roles", [])),
    )
    return TokenClaims(principal, str(claims["jti"]), float(claims["exp"]))


class TokenReader:
    """`read_claims` for one secret, remembering the tokens it verified: every request of a client
    shows the same token, and its signature and claims do not change, so only its expiry is
    checked again. A token not seen before (or expired) goes through `read_claims` in full."""

    def __init__(self, secret: str, size: int = 10_000) -> None:
        self._secret, self._size = secret, size
        self._verified: dict[str, TokenClaims] = {}

    def read(self, token: str) -> TokenClaims:
        claims = self._verified.get(token)
        # PyJWT's own test: a token is expired from the second its `exp` names.
        if claims is not None and time.time() < claims.expires_at:
            return claims
        self._verified.pop(token, None)
        claims = read_claims(token, self._secret)
        if len(self._verified) >= self._size:
            self._verified.pop(next(iter(self._verified)))  # the oldest first
        self._verified[token] = claims
        return claims


def read_token(token: str, secret: str) -> Principal:
    return read_claims(token, secret).principal


# -- API keys ------------------------------------------------------------------------------
#
# `qk_<key id>_<secret>`: the id finds the row, the secret proves possession. The secret is
# 256 random bits, so guessing is hopeless whatever the hash costs; a slow password hash
# (argon2) would only add latency to every request and hand attackers a cheap way to burn
# the gateway's CPU. The stored value is HMAC-SHA256 keyed with a server pepper (never in the
# database), over id and secret, so a copy of the table alone verifies nothing, and a hash
# moved to another row does not match there.


def api_key_pepper(jwt_secret: str, pepper: str | None = None) -> bytes:
    """The pepper, derived under its own label from `QUARRY_API_KEY_PEPPER` when that is set,
    else from the gateway's JWT secret (rotating that secret then invalidates every API key, as
    it does every access token; with a pepper of their own, keys outlive a JWT rotation)."""
    return hmac.new((pepper or jwt_secret).encode(), b"quarry api key pepper v1", hashlib.sha256).digest()


def new_api_key() -> tuple[str, str, str]:
    """(key id, secret, the full key the caller is shown once)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return key_id, secret, f"{API_KEY_PREFIX}{key_id}_{secret}"


def parse_api_key(key: str) -> tuple[str, str]:
    """(key id, secret) of a well-formed key."""
    body = key.removeprefix(API_KEY_PREFIX)
    key_id, sep, secret = body.partition("_")
    if body == key or not sep or len(key_id) != 16 or not secret:
        raise InvalidToken("malformed API key")
    try:
        int(key_id, 16)
    except ValueError:
        raise InvalidToken("malformed API key") from None
    return key_id, secret


def hash_api_key(pepper: bytes, key_id: str, secret: str) -> str:
    return hmac.new(pepper, f"{key_id}:{secret}".encode(), hashlib.sha256).hexdigest()


# -- one-time secrets (invites, stream tickets) ------------------------------------------------


def new_one_time_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def fingerprint(one_time_secret: str) -> str:
    """What the store keeps of a one-time secret: a plain SHA-256 suffices for 256 random bits,
    and a reader of the table cannot replay what it finds there."""
    return hashlib.sha256(one_time_secret.encode()).hexdigest()
