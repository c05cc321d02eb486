"""What the operators' routes (`/v1/ops/`) answer: the bus as JetStream reports it, envelopes and
counts only, never a message's content."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from contracts.numbers import MAX_SAFE_INTEGER, Count

Seconds = Annotated[float, Field(ge=0, le=MAX_SAFE_INTEGER)]


class StreamLimitsPublic(BaseModel):
    max_msgs: Count | None = Field(description="most messages kept; null: no limit")
    max_bytes: Count | None = Field(description="most bytes kept; null: no limit")
    max_age_s: Seconds | None = Field(description="oldest message kept, in seconds; null: no limit")
    max_msgs_per_subject: Count | None = Field(description="most messages kept per subject; null: no limit")
    max_msg_size: Count | None = Field(description="largest message accepted, in bytes; null: no limit")
    discard: str = Field(description="what a full stream does: `old` drops its oldest, `new` refuses")
    retention: str = Field(description="`limits`, `interest` or `workqueue`")
    storage: str = Field(description="`file` or `memory`")


class StreamPublic(BaseModel):
    name: str
    subjects: list[str]
    messages: Count
    bytes: Count
    first_seq: Count
    first_at: datetime | None = Field(description="time of the oldest message kept; null when empty")
    last_seq: Count
    last_at: datetime | None = Field(description="time of the newest message; null when none was ever stored")
    deleted: Count = Field(description="messages deleted between the first and the last (acknowledged work, limits)")
    subject_count: Count
    consumer_count: Count
    replicas: Count
    limits: StreamLimitsPublic
    created_at: datetime | None


class StreamListPublic(BaseModel):
    streams: list[StreamPublic]


class ConsumerPublic(BaseModel):
    stream: str
    name: str
    service: str | None = Field(description="the service running it (contracts.consumers); null: none declares it")
    filter_subjects: list[str]
    ack_policy: str
    deliver_policy: str
    max_deliver: Count | None = Field(description="deliveries before a message is given up; null: no limit")
    ack_wait_s: Seconds
    pending: Count = Field(description="messages matching its filter not yet delivered")
    ack_pending: Count = Field(description="messages delivered and not yet acknowledged")
    redelivered: Count = Field(description="messages among those delivered more than once")
    waiting: Count = Field(description="pull requests waiting for messages")
    delivered_seq: Count = Field(description="stream sequence of the last message delivered")
    delivered_at: datetime | None = Field(description="when it last delivered a message")
    ack_floor_seq: Count = Field(description="stream sequence up to which everything is acknowledged")
    ack_floor_at: datetime | None = Field(description="when its acknowledgements last moved the floor")
    oldest_pending_seq: Count | None = Field(description="the oldest message it still owes; null when caught up")
    oldest_pending_at: datetime | None
    lag_s: Seconds | None = Field(
        description="age of the oldest unacknowledged message: 0 when caught up, null when it could not be read"
    )
    created_at: datetime | None


class ConsumerListPublic(BaseModel):
    consumers: list[ConsumerPublic]
    read_at: datetime = Field(description="the moment the lag is measured from")
