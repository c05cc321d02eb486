"""Passwords (argon2id) and access tokens (JWT carrying tenant and roles)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
ALGORITHM = "HS256"
ISSUER = "quarry-gateway"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Principal:
    """Who is calling, from a verified access token."""

    user_id: str
    tenant_id: str
    email: str
    roles: tuple[str, ...]


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
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


class InvalidToken(Exception):
    """The bearer token is missing, expired, forged or malformed."""


def read_token(token: str, secret: str) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["exp", "sub"]})
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    return Principal(
        user_id=str(claims["sub"]),
        tenant_id=str(claims["tenant"]),
        email=str(claims.get("email", "")),
        roles=tuple(claims.get("roles", [])),
    )
