"""What the share link routes answer."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
