"""Members of the caller's tenant: invite, list, change a role, remove.

An invited member gets no password from the admin: the answer to the invite holds a one-time
invite token (valid seven days) that the admin hands over and the new member exchanges at
POST /v1/auth/accept for a password of their own choosing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, EmailStr

from contracts.ids import new_id
from services.gateway.accounts import DuplicateEmail, NoSuchMember
from services.gateway.api.deps import AuditDep, ComponentsDep, MemberManager, MemberReader
from services.gateway.api.models.identity import MemberInvitedPublic, MemberListPublic, MemberPublic
from services.gateway.errors import Conflict, NotFound
from services.gateway.security import INVITE_PREFIX, INVITE_TTL_S, fingerprint, new_one_time_secret

router = APIRouter(prefix="/v1/members", tags=["members"])

Role = Literal["owner", "admin", "member", "viewer"]


class MemberCreate(BaseModel):
    email: EmailStr
    role: Role = "member"


class MemberUpdate(BaseModel):
    role: Role


@router.post("", status_code=201)
async def invite_member(
    body: MemberCreate, who: MemberManager, parts: ComponentsDep, audit: AuditDep
) -> MemberInvitedPublic:
    """Add a member with a role no higher than the caller's; answers with their one-time invite token."""
    invite = new_one_time_secret(INVITE_PREFIX)
    try:
        member = await asyncio.to_thread(
            parts.store.accounts.invite_member,
            who.tenant_id,
            new_id(),
            body.email.lower(),
            body.role,
            fingerprint(invite),
            time.time() + INVITE_TTL_S,
            who.role,
        )
    except DuplicateEmail:
        raise Conflict("this address is already a member of the tenant or invited to it") from None
    await audit("member.invited", member["user_id"], email=member["email"], role=member["role"])
    return MemberInvitedPublic.model_validate({**member, "invite_token": invite, "invite_expires_in": INVITE_TTL_S})


@router.get("")
async def list_members(who: MemberReader, parts: ComponentsDep) -> MemberListPublic:
    """The tenant's members, their role and whether they have accepted their invite."""
    members = await asyncio.to_thread(parts.store.accounts.members, who.tenant_id, time.time())
    return MemberListPublic.model_validate({"members": members})


@router.patch("/{user_id}")
async def change_role(
    user_id: str, body: MemberUpdate, who: MemberManager, parts: ComponentsDep, audit: AuditDep
) -> MemberPublic:
    """Give a member another role: never above the caller's own, never to someone who outranks the
    caller, and never the last owner's demotion. Takes effect on the member's next request."""
    try:
        member = await asyncio.to_thread(parts.store.accounts.set_role, who.tenant_id, user_id, body.role, who.role)
    except NoSuchMember:
        raise NotFound("member not found") from None
    await audit("member.role_changed", user_id, email=member["email"], role=member["role"])
    return MemberPublic.model_validate(member)


@router.delete("/{user_id}", status_code=204)
async def remove_member(user_id: str, who: MemberManager, parts: ComponentsDep, audit: AuditDep) -> None:
    """Remove a member (not the last owner); their API keys are revoked and their sessions end."""
    try:
        await asyncio.to_thread(parts.store.accounts.remove_member, who.tenant_id, user_id, who.role, time.time())
    except NoSuchMember:
        raise NotFound("member not found") from None
    await audit("member.removed", user_id)
