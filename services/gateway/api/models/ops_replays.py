"""What the operators' replay routes answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from contracts.numbers import Count
from services.gateway.api.models.ops import Seconds


class ReplayReportPublic(BaseModel):
    messages: Count = Field(description="stream messages read")
    applied: Count = Field(description="of them, events the read models take")
    unparsable: Count = Field(description="events skipped as the live consumers dead-letter them")
    first_seq: Count
    last_seq: Count
    runs_live: Count
    runs_rebuilt: Count
    documents_live: Count
    documents_rebuilt: Count
    monitors_live: Count
    monitors_rebuilt: Count
    rebuild_s: Seconds
    compare_s: Seconds
    identical: bool
    difference_count: Count
    differences: list[str] = Field(description="the first differences, one line each (read-model values)")
    error: str | None = Field(default=None, description="why a failed replay stopped")


class ReplayPublic(BaseModel):
    replay_id: str
    requested_by: str
    started_at: str
    updated_at: str = Field(description="the last progress; a running replay silent for 2 minutes is abandoned")
    finished_at: str | None
    state: Literal["running", "identical", "different", "failed", "abandoned"]
    messages: Count = Field(description="messages read so far")
    first_seq: Count
    last_seq: Count = Field(description="the stream's last message when the replay began: where it stops")
    report: ReplayReportPublic | None = Field(description="null until the replay ends")


class ReplayListPublic(BaseModel):
    replays: list[ReplayPublic] = Field(description="newest first")
