"""What the identity routes (the caller, members, API keys) answer."""

from __future__ import annotations

from pydantic import BaseModel, Field

from contracts.numbers import Count


class MemberPublic(BaseModel):
    user_id: str
    email: str
    role: str | None
    status: str = Field(description="active, invited or invite expired")
    created_at: str


class MemberInvitedPublic(MemberPublic):
    invite_token: str = Field(description="shown this once")
    invite_expires_in: Count


class MemberListPublic(BaseModel):
    members: list[MemberPublic]


class KeyPublic(BaseModel):
    key_id: str
    name: str
    scopes: list[str]
    created_by: str
    created_at: str
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None
    status: str = Field(description="active, expired or revoked")


class KeyCreatedPublic(KeyPublic):
    api_key: str = Field(description="shown this once; the gateway keeps only a keyed hash of it")


class KeyListPublic(BaseModel):
    keys: list[KeyPublic]


class MePublic(BaseModel):
    """The caller, their tenant, and what they may do."""

    user_id: str
    tenant_id: str
    tenant_name: str | None
    email: str
    role: str | None
    roles: list[str]
    permissions: list[str] = Field(description="narrowed by the API key, if one is used")
    key_id: str | None
    plan: str | None = Field(description="null while billing does not answer")
