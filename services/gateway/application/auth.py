"""Accounts from the outside: sign up, log in, log out, accept an invite, who the caller is.

Every use case that takes a password counts against the abuse limits (`services.gateway.guard`):
per address, per account, and argon2 behind a bounded semaphore.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from contracts.billing import EntitlementsQuery
from contracts.ids import new_id
from services.gateway.accounts import INVITED, DuplicateEmail
from services.gateway.api.models.identity import MePublic
from services.gateway.errors import Conflict, Unauthorized, Unavailable
from services.gateway.security import InvalidToken, Principal, fingerprint, read_claims

if TYPE_CHECKING:
    from services.gateway.api.deps import Components


async def sign_up(parts: Components, address: str, email: str, password: str, tenant_name: str) -> Principal:
    """Create a tenant and its owner. An email that already has an account gets an owner of a
    tenant that does not exist, in about the same time (the password is hashed either way), so
    sign-up does not tell who has an account; its token is refused wherever it is shown."""
    await parts.guard.attempt(address)
    await parts.guard.signup(address)
    tenant_id, user_id, email = new_id(), new_id(), email.lower()
    password_hash = await parts.guard.hash_password(password)
    try:
        await asyncio.to_thread(
            parts.store.accounts.create_tenant_with_owner, tenant_id, tenant_name, user_id, email, password_hash
        )
    except DuplicateEmail:
        pass  # answered like a new account (see above); the existing account is untouched
    return Principal(user_id, tenant_id, email, ("owner",))


async def log_in(parts: Components, address: str, email: str, password: str) -> Principal:
    """The account's principal for the right email and password (401 otherwise, 429 when locked)."""
    email = email.lower()
    await parts.guard.attempt(address)
    # Before any password is looked at: a locked account answers 429 to the right password too,
    # and to an email that has no account, so the lock tells nothing about which exist.
    await parts.guard.account_open(email)
    user = await asyncio.to_thread(parts.store.accounts.user_by_email, email)
    if user is None or user["password_hash"] == INVITED:
        await parts.guard.burn_password_check(password)
        await parts.guard.login_failed(email)
        raise Unauthorized("wrong email or password")
    if not await parts.guard.verify_password(user["password_hash"], password):
        await parts.guard.login_failed(email)
        raise Unauthorized("wrong email or password")
    await parts.guard.login_succeeded(email)
    return Principal(user["user_id"], user["tenant_id"], user["email"], tuple(user["roles"]))


async def revoke_token(parts: Components, token: str) -> None:
    """Refuse the access token on every replica from now until it expires."""
    try:
        claims = read_claims(token, parts.settings.jwt_secret)
    except InvalidToken as exc:  # authenticated a moment ago; expired since
        raise Unauthorized(f"invalid token: {exc}") from exc
    await asyncio.to_thread(parts.store.accounts.revoke_token, claims.token_id, claims.expires_at, time.time())


async def accept_invite(parts: Components, address: str, invite_token: str, password: str) -> Principal:
    """The invited member, with the password they chose (the invite is single use)."""
    await parts.guard.attempt(address)
    password_hash = await parts.guard.hash_password(password)
    try:
        principal = await asyncio.to_thread(
            parts.store.accounts.accept_invite, fingerprint(invite_token), password_hash, time.time()
        )
    except DuplicateEmail:
        raise Conflict("an account with this email already exists; sign in to it instead") from None
    if principal is None:
        raise Unauthorized("the invite is unknown, already used or expired")
    return principal


async def me(parts: Components, who: Principal) -> MePublic:
    """The caller: user, tenant, roles, what they may do, and the tenant's plan (None while billing does not answer)."""
    return MePublic(
        user_id=who.user_id,
        tenant_id=who.tenant_id,
        tenant_name=await asyncio.to_thread(parts.store.accounts.tenant_name, who.tenant_id),
        email=who.email,
        role=who.role,
        roles=list(who.roles),
        permissions=sorted(who.permissions),
        key_id=who.key_id,
        plan=await _plan_name(parts, who.tenant_id),
    )


async def _plan_name(parts: Components, tenant_id: str) -> str | None:
    if parts.bus is None and parts.entitlements is None:  # an app without a bus (tests)
        return None
    try:
        return (await parts.plan().get(EntitlementsQuery(tenant_id=tenant_id))).plan
    except Unavailable:
        return None
