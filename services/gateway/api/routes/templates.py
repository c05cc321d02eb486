"""Research templates (methodologies): saved run settings a run or a monitor names by id."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, field_validator

from contracts.report import (
    OUTLINE_MAX_SECTIONS,
    TARGET_WORDS_MAX,
    TARGET_WORDS_MIN,
    OutlineSection,
    ReportLength,
    Tone,
)
from contracts.work import SourceKind
from services.gateway.api.bounds import MAX_VERSION
from services.gateway.api.deps import ComponentsDep, CurrentPrincipal, requires
from services.gateway.application.templates import found_template
from services.gateway.errors import NotFound

router = APIRouter(prefix="/v1/templates", tags=["templates"])


class TemplateCreate(BaseModel):
    """A template's whole body; PUT replaces it with a new version. Unset run settings fall back to the
    run's own defaults (and the tenant's sources)."""

    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=2000)
    depth: int | None = Field(default=None, ge=1, le=3)
    max_sources: int | None = Field(default=None, ge=1, le=50)
    sources: list[SourceKind] | None = Field(default=None, min_length=1, description="corpus, datasets, web")
    length: ReportLength | None = Field(default=None, description="brief, standard or detailed")
    target_words: int | None = Field(default=None, ge=TARGET_WORDS_MIN, le=TARGET_WORDS_MAX)
    outline: list[OutlineSection] = Field(
        default_factory=list, max_length=OUTLINE_MAX_SECTIONS, description="the report's section headings, in order"
    )
    tone: Tone = Field(default="neutral", description="neutral, executive or technical")

    @field_validator("name")
    @classmethod
    def _named(cls, name: str) -> str:
        name = " ".join(name.split())
        if not name:
            raise ValueError("the name is blank")
        return name

    @field_validator("outline")
    @classmethod
    def _distinct_headings(cls, outline: list[OutlineSection]) -> list[OutlineSection]:
        seen: set[str] = set()
        for section in outline:
            key = " ".join(section.heading.split()).casefold()
            if not key:
                raise ValueError("an outline heading is blank")
            if key in seen:
                raise ValueError(f"the outline has the heading {section.heading!r} twice")
            seen.add(key)
        return outline


@router.post("", status_code=201, dependencies=[requires("templates:write")])
async def create_template(body: TemplateCreate, who: CurrentPrincipal, parts: ComponentsDep) -> dict[str, Any]:
    """Save a research template for the caller's tenant (version 1)."""
    return await asyncio.to_thread(
        parts.store.templates.create, who.tenant_id, body.model_dump(mode="json"), who.user_id
    )


@router.get("", dependencies=[requires("templates:read")])
async def list_templates(who: CurrentPrincipal, parts: ComponentsDep) -> dict[str, Any]:
    """The tenant's templates, each at its current version, by name."""
    return {"templates": await asyncio.to_thread(parts.store.templates.list, who.tenant_id)}


@router.get("/{template_id}", dependencies=[requires("templates:read")])
async def get_template(
    template_id: str,
    who: CurrentPrincipal,
    parts: ComponentsDep,
    version: Annotated[
        int | None, Query(ge=1, le=MAX_VERSION, description="an earlier version (default: the current one)")
    ] = None,
) -> dict[str, Any]:
    """One template, at its current version or at the version a run recorded."""
    return await found_template(parts, who.tenant_id, template_id, version)


@router.put("/{template_id}", dependencies=[requires("templates:write")])
async def replace_template(
    template_id: str, body: TemplateCreate, who: CurrentPrincipal, parts: ComponentsDep
) -> dict[str, Any]:
    """Replace the template's body; the result is its next version (runs keep the version they used)."""
    updated = await asyncio.to_thread(
        parts.store.templates.update, who.tenant_id, template_id, body.model_dump(mode="json"), who.user_id
    )
    if updated is None:
        raise NotFound("template not found")
    return updated


@router.delete("/{template_id}", status_code=204, dependencies=[requires("templates:write")])
async def delete_template(template_id: str, who: CurrentPrincipal, parts: ComponentsDep) -> Response:
    """Retire the template: new runs and monitors can no longer name it; monitors made with it keep their copy."""
    if not await asyncio.to_thread(parts.store.templates.delete, who.tenant_id, template_id):
        raise NotFound("template not found")
    return Response(status_code=204)
