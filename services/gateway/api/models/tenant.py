"""What the tenant routes answer."""

from __future__ import annotations

from pydantic import BaseModel, Field

from contracts.numbers import Count


class TenantSettingsPublic(BaseModel):
    """The tenant's run defaults."""

    approval_required: bool
    approval_timeout_s: Count
    pii_policy: str
    sources: list[str] | None = Field(
        description="null: the platform's default (the corpus and the tenant's documents)"
    )
