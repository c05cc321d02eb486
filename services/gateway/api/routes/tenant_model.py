"""The tenant's own model endpoint: any OpenAI-compatible chat API the analyst then uses for its runs.

Stored in the JetStream key-value bucket the analyst reads (`quarry_runtime.tenant_models`), the API
key sealed there; no event carries it. The API key is write-only: it is never shown again, only
whether one is set and its last four characters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, StringConstraints, field_validator

from quarry_runtime.tenant_models import ModelEndpoint, StoredEndpoint, TenantModels, Unavailable
from services.gateway.api.deps import AuditDep, Components, ComponentsDep, requires
from services.gateway.errors import Unavailable as ServiceUnavailable
from services.gateway.errors import available
from services.gateway.security import Principal

router = APIRouter(prefix="/v1/tenant", tags=["tenant"])

# Printable ASCII without spaces: it goes into an Authorization header as it is.
ApiKey = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[\x21-\x7e]+$")]


class TenantModelSet(BaseModel):
    """The whole setting: a PUT replaces it, so a key is never carried over to another endpoint."""

    base_url: str = Field(max_length=2000, description="the API root, e.g. https://api.openai.com/v1")
    model: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$", description="e.g. gpt-4o-mini")
    api_key: ApiKey | None = Field(default=None, description="sent as a bearer token; omit for an endpoint without one")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials; give the key as api_key")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment: it is the API root, e.g. https://host/v1")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number in range
        except ValueError as exc:
            raise ValueError(f"has an invalid port: {exc}") from exc
        return value.rstrip("/")

    @field_validator("model")
    @classmethod
    def _model_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a model")
        return value.strip()


class TenantModelPublic(BaseModel):
    configured: bool = Field(description="false: the tenant's runs use the platform's model (or none)")
    base_url: str | None = None
    model: str | None = None
    api_key_set: bool = False
    api_key_last4: str | None = Field(default=None, description="to recognise the key; null if it cannot be read")
    updated_at: datetime | None = None
    updated_by: str | None = None


def _models(parts: Components) -> TenantModels:
    return available(parts.models, "tenant model settings are not available on this gateway")


def _public(tenant_id: str, models: TenantModels, stored: StoredEndpoint | None) -> TenantModelPublic:
    if stored is None:
        return TenantModelPublic(configured=False)
    return TenantModelPublic(
        configured=True,
        base_url=stored.base_url,
        model=stored.model,
        api_key_set=stored.sealed_key is not None,
        api_key_last4=models.last4(tenant_id, stored),
        updated_at=datetime.fromtimestamp(stored.updated_at, UTC),
        updated_by=stored.updated_by or None,
    )


@router.get("/model")
async def get_model(who: Annotated[Principal, requires("model:read")], parts: ComponentsDep) -> TenantModelPublic:
    """Which endpoint serves the tenant's runs; never the API key."""
    models = _models(parts)
    try:
        return _public(who.tenant_id, models, await models.stored(who.tenant_id, fresh=True))
    except Unavailable as exc:
        raise ServiceUnavailable(str(exc)) from exc


@router.put("/model")
async def put_model(
    body: TenantModelSet, who: Annotated[Principal, requires("model:write")], parts: ComponentsDep, audit: AuditDep
) -> TenantModelPublic:
    """Use this endpoint for the tenant's planning, synthesis and answers from now on (replaces any earlier one)."""
    models = _models(parts)
    endpoint = ModelEndpoint(body.base_url, body.model, body.api_key)
    try:
        stored = await models.put(who.tenant_id, endpoint, updated_by=who.user_id)
    except Unavailable as exc:
        raise ServiceUnavailable(str(exc)) from exc
    await audit("model.set", None, base_url=body.base_url, model=body.model)  # never the key
    return _public(who.tenant_id, models, stored)


@router.delete("/model", status_code=204)
async def delete_model(
    who: Annotated[Principal, requires("model:write")], parts: ComponentsDep, audit: AuditDep
) -> Response:
    """Go back to the platform's model; the stored key is deleted with the setting."""
    try:
        await _models(parts).delete(who.tenant_id)
    except Unavailable as exc:
        raise ServiceUnavailable(str(exc)) from exc
    await audit("model.removed")
    return Response(status_code=204)
