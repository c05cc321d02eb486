"""Template look-ups the run, monitor and template routes share."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from services.gateway.api.models.templates import TemplateCreate
from services.gateway.errors import NotFound
from services.gateway.security import Principal

if TYPE_CHECKING:
    from services.gateway.api.deps import Components


async def found_template(
    parts: Components, tenant_id: str, template_id: str, version: int | None = None
) -> dict[str, Any]:
    """The tenant's template (404 for anyone else's or an unknown one)."""
    template = await asyncio.to_thread(parts.store.templates.get, tenant_id, template_id, version)
    if template is None:
        raise NotFound("template not found" if version is None else f"template version {version} not found")
    return template


async def template_for_request(parts: Components, tenant_id: str, template_id: str | None) -> dict[str, Any] | None:
    """The current version of the template a run or monitor request names (404 as for its own path)."""
    return None if template_id is None else await found_template(parts, tenant_id, template_id)


async def create_template(parts: Components, who: Principal, body: TemplateCreate) -> dict[str, Any]:
    """Save version 1 of a new template for the caller's tenant."""
    return await asyncio.to_thread(
        parts.store.templates.create, who.tenant_id, body.model_dump(mode="json"), who.user_id
    )


async def replace_template(parts: Components, who: Principal, template_id: str, body: TemplateCreate) -> dict[str, Any]:
    """Save the body as the template's next version (404 for anyone else's or an unknown one)."""
    updated = await asyncio.to_thread(
        parts.store.templates.update, who.tenant_id, template_id, body.model_dump(mode="json"), who.user_id
    )
    if updated is None:
        raise NotFound("template not found")
    return updated


async def delete_template(parts: Components, tenant_id: str, template_id: str) -> None:
    """Retire the template (404 for anyone else's or an unknown one); runs keep the versions they used."""
    if not await asyncio.to_thread(parts.store.templates.delete, tenant_id, template_id):
        raise NotFound("template not found")
