"""Sign-up (a new tenant and its owner) and log-in."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from pydantic import BaseModel, EmailStr, Field

from contracts.ids import new_id
from services.gateway.api.deps import ComponentsDep
from services.gateway.api.errors import Conflict, Unauthorized
from services.gateway.security import Principal, hash_password, issue_token, verify_password
from services.gateway.store import DuplicateEmail

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class SignupCreate(BaseModel):
    email: EmailStr
    password: str = Field(min_length=8, max_length=200)
    tenant_name: str = Field(min_length=1, max_length=120)


class LoginCreate(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=200)


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
        parts.store.create_tenant_with_owner(tenant_id, body.tenant_name, user_id, body.email.lower(), password_hash)
    except DuplicateEmail:
        raise Conflict("an account with this email already exists") from None
    principal = Principal(user_id, tenant_id, body.email.lower(), ("owner",))
    return _token(principal, parts)


@router.post("/login")
async def login(body: LoginCreate, parts: ComponentsDep) -> TokenPublic:
    """Exchange email and password for an access token."""
    user = parts.store.user_by_email(body.email.lower())
    ok = user is not None and await asyncio.to_thread(verify_password, user["password_hash"], body.password)
    if not ok or user is None:
        raise Unauthorized("wrong email or password")
    principal = Principal(user["user_id"], user["tenant_id"], user["email"], tuple(user["roles"]))
    return _token(principal, parts)


def _token(principal: Principal, parts: ComponentsDep) -> TokenPublic:
    ttl = parts.settings.access_token_ttl_s
    token = issue_token(principal, parts.settings.jwt_secret, ttl)
    return TokenPublic(access_token=token, expires_in=ttl, tenant_id=principal.tenant_id, user_id=principal.user_id)
