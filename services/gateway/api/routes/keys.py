"""API keys for programmatic access: created with scopes, shown once, listed without secrets, revoked."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator

from services.gateway.api.deps import AuditDep, ComponentsDep, KeyManager, KeyReader
from services.gateway.api.models.identity import KeyCreatedPublic, KeyListPublic
from services.gateway.domain.permissions import KEY_SCOPES
from services.gateway.errors import Forbidden, NotFound
from services.gateway.security import api_key_pepper, hash_api_key, new_api_key

router = APIRouter(prefix="/v1/keys", tags=["keys"])

DAY_S = 24 * 3600


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    scopes: list[str] = Field(min_length=1, description="permissions the key carries, e.g. runs:read")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650, description="default: never expires")

    @field_validator("scopes")
    @classmethod
    def _grantable(cls, scopes: list[str]) -> list[str]:
        unknown = sorted(set(scopes) - KEY_SCOPES)
        if unknown:
            raise ValueError(f"not grantable to a key: {unknown}; choose from {sorted(KEY_SCOPES)}")
        return sorted(set(scopes))


@router.post("", status_code=201)
async def create_key(body: KeyCreate, who: KeyManager, parts: ComponentsDep, audit: AuditDep) -> KeyCreatedPublic:
    """Create a key acting as the caller, limited to `scopes` (all of which the caller must hold).

    The answer's `api_key` is shown this once; the gateway keeps only a keyed hash of it. The
    key's power is re-checked on each use against its creator's role at that moment.
    """
    wanted = frozenset(body.scopes)
    beyond = sorted(wanted - who.permissions)
    if beyond:
        raise Forbidden(f"you cannot grant what you do not hold: {beyond}")
    key_id, secret, api_key = new_api_key()
    secret_hash = hash_api_key(api_key_pepper(parts.settings.jwt_secret, parts.settings.api_key_pepper), key_id, secret)
    expires_at = time.time() + body.expires_in_days * DAY_S if body.expires_in_days else None
    key = await asyncio.to_thread(
        parts.store.accounts.create_key, who, key_id, body.name, wanted, secret_hash, expires_at
    )
    await audit("api_key.created", key_id, name=body.name, scopes=sorted(wanted), expires_at=key["expires_at"])
    return KeyCreatedPublic.model_validate({**key, "api_key": api_key})


@router.get("")
async def list_keys(who: KeyReader, parts: ComponentsDep) -> KeyListPublic:
    """The tenant's keys (never their secrets), with status and last use."""
    return KeyListPublic.model_validate(
        {"keys": await asyncio.to_thread(parts.store.accounts.keys, who.tenant_id, time.time())}
    )


@router.delete("/{key_id}", status_code=204)
async def revoke_key(key_id: str, who: KeyManager, parts: ComponentsDep, audit: AuditDep) -> None:
    """Revoke a key of the tenant; it answers 401 from then on."""
    if not await asyncio.to_thread(parts.store.accounts.revoke_key, who.tenant_id, key_id, time.time()):
        raise NotFound("key not found")
    await audit("api_key.revoked", key_id)
