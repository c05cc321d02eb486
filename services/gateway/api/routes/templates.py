"""Research templates (methodologies): saved run settings a run or a monitor names by id."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Response

from services.gateway.api.bounds import MAX_VERSION
from services.gateway.api.deps import ComponentsDep, CurrentPrincipal, requires
from services.gateway.api.models.templates import TemplateCreate, TemplateListPublic, TemplatePublic
from services.gateway.application import templates

router = APIRouter(prefix="/v1/templates", tags=["templates"])


@router.post("", status_code=201, dependencies=[requires("templates:write")], response_model_exclude_unset=True)
async def create_template(body: TemplateCreate, who: CurrentPrincipal, parts: ComponentsDep) -> TemplatePublic:
    """Save a research template for the caller's tenant (version 1)."""
    return TemplatePublic.model_validate(await templates.create_template(parts, who, body))


@router.get("", dependencies=[requires("templates:read")], response_model_exclude_unset=True)
async def list_templates(who: CurrentPrincipal, parts: ComponentsDep) -> TemplateListPublic:
    """The tenant's templates, each at its current version, by name."""
    found = await asyncio.to_thread(parts.store.templates.list, who.tenant_id)
    return TemplateListPublic.model_validate({"templates": found})


@router.get("/{template_id}", dependencies=[requires("templates:read")], response_model_exclude_unset=True)
async def get_template(
    template_id: str,
    who: CurrentPrincipal,
    parts: ComponentsDep,
    version: Annotated[
        int | None, Query(ge=1, le=MAX_VERSION, description="an earlier version (default: the current one)")
    ] = None,
) -> TemplatePublic:
    """One template, at its current version or at the version a run recorded."""
    return TemplatePublic.model_validate(await templates.found_template(parts, who.tenant_id, template_id, version))


@router.put("/{template_id}", dependencies=[requires("templates:write")], response_model_exclude_unset=True)
async def replace_template(
    template_id: str, body: TemplateCreate, who: CurrentPrincipal, parts: ComponentsDep
) -> TemplatePublic:
    """Replace the template's body; the result is its next version (runs keep the version they used)."""
    return TemplatePublic.model_validate(await templates.replace_template(parts, who, template_id, body))


@router.delete("/{template_id}", status_code=204, dependencies=[requires("templates:write")])
async def delete_template(template_id: str, who: CurrentPrincipal, parts: ComponentsDep) -> Response:
    """Retire the template: new runs and monitors can no longer name it; monitors made with it keep their copy."""
    await templates.delete_template(parts, who.tenant_id, template_id)
    return Response(status_code=204)
