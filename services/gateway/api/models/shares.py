"""What the share link routes answer."""

from __future__ import annotations

from pydantic import BaseModel, Field

from contracts.numbers import Count


class ShareCreatedPublic(BaseModel):
    share_id: str
    token: str = Field(description="shown this once; the gateway keeps only its hash")
    url: str
    created_at: str


class SharePublic(BaseModel):
    share_id: str
    run_id: str
    created_by: str
    created_at: str


class ShareListPublic(BaseModel):
    shares: list[SharePublic]


class SharedSourcePublic(BaseModel):
    n: Count = Field(description="the number the report cites it by")
    title: str
    url: str | None
    passage: str | None


class SharedReportPublic(BaseModel):
    question: str | None
    title: str | None
    completed_at: str | None
    report_markdown: str
    sources: list[SharedSourcePublic]
