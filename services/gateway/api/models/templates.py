"""What the research template routes take and answer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.numbers import Count
from contracts.report import Outline, OutlineSection, ReportLength, TargetWords, Tone
from contracts.work import SourceKind


class TemplateCreate(BaseModel):
    """A template's whole body; PUT replaces it with a new version. Unset run settings fall back to the
    run's own defaults (and the tenant's sources)."""

    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=2000)
    depth: int | None = Field(default=None, ge=1, le=3)
    max_sources: int | None = Field(default=None, ge=1, le=50)
    sources: list[SourceKind] | None = Field(default=None, min_length=1, description="corpus, datasets, web")
    length: ReportLength | None = Field(default=None, description="brief, standard or detailed")
    target_words: TargetWords | None = None
    outline: Outline = Field(default_factory=list, description="the report's section headings, in order")
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


class TemplatePublic(BaseModel):
    """A template at one version: its body as saved, and where that version stands. A body saved
    by an older gateway is answered with the keys it has (the route excludes what it did not set)."""

    model_config = ConfigDict(extra="allow")

    template_id: str
    name: str
    description: str = ""
    depth: Count | None = None
    max_sources: Count | None = None
    sources: list[str] | None = None
    length: str | None = None
    target_words: Count | None = None
    outline: list[OutlineSection] = Field(default_factory=list)
    tone: str = "neutral"
    version: Count
    current_version: Count
    created_at: str
    updated_at: str
    version_created_at: str
    version_created_by: str | None


class TemplateListPublic(BaseModel):
    templates: list[TemplatePublic]
