"""Sign-up (a new tenant and its owner), log-in, accepting an invite, and who the caller is."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, EmailStr, Field

from contracts.ids import new_id
from services.gateway.accounts import INVITED, DuplicateEmail
from services.gateway.api.deps import ComponentsDep, CurrentPrincipal
from services.gateway.api.errors import Conflict, Unauthorized
from services.gateway.security import (
    Principal,
    burn_password_check,
    fingerprint,
    hash_password,
    issue_token,
    verify_password,
)

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class SignupCreate(BaseModel):
    email: EmailStr
    password: str = Field(min_length=8, max_length=200)
    tenant_name: str = Field(min_length=1, max_length=120)


class LoginCreate(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=200)


class InviteAccept(BaseModel):
    invite_token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=8, max_length=200)


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    tenant_id: str
    user_id: str


@router.post("/signup", status_code=201)
async def signup(body: SignupCreate, parts: ComponentsDep) -> TokenPublic:
    """Create a tenant and its owner; answers with an access token."""
    tenant_id, user_id = new_id(), new_id()
    password_hash = await asyncio.to_thread(hash_password, body.password)
    try:
        parts.store.accounts.create_tenant_with_owner(
            tenant_id, body.tenant_name, user_id, body.email.lower(), password_hash
        )
    except DuplicateEmail:
        raise Conflict("an account with this email already exists") from None
    principal = Principal(user_id, tenant_id, body.email.lower(), ("owner",))
    return _token(principal, parts)


@router.post("/login")
async def login(body: LoginCreate, parts: ComponentsDep) -> TokenPublic:
    """Exchange email and password for an access token."""
    user = parts.store.accounts.user_by_email(body.email.lower())
    if user is None or user["password_hash"] == INVITED:
        await asyncio.to_thread(burn_password_check, body.password)
        raise Unauthorized("wrong email or password")
    if not await asyncio.to_thread(verify_password, user["password_hash"], body.password):
        raise Unauthorized("wrong email or password")
    principal = Principal(user["user_id"], user["tenant_id"], user["email"], tuple(user["roles"]))
    return _token(principal, parts)


@router.post("/accept")
async def accept_invite(body: InviteAccept, parts: ComponentsDep) -> TokenPublic:
    """An invited member chooses a password with the invite token an admin handed them (single
    use); answers with an access token."""
    password_hash = await asyncio.to_thread(hash_password, body.password)
    principal = parts.store.accounts.accept_invite(fingerprint(body.invite_token), password_hash, time.time())
    if principal is None:
        raise Unauthorized("the invite is unknown, already used or expired")
    return _token(principal, parts)


@router.get("/me")
async def me(who: CurrentPrincipal) -> dict[str, Any]:
    """The caller: user, tenant, role, and what they may do (narrowed by the API key, if one is used)."""
    return {
        "user_id": who.user_id,
        "tenant_id": who.tenant_id,
        "email": who.email,
        "role": who.role,
        "permissions": sorted(who.permissions),
        "key_id": who.key_id,
    }


def _token(principal: Principal, parts: ComponentsDep) -> TokenPublic:
    ttl = parts.settings.access_token_ttl_s
    token = issue_token(principal, parts.settings.jwt_secret, ttl)
    return TokenPublic(access_token=token, expires_in=ttl, tenant_id=principal.tenant_id, user_id=principal.user_id)
