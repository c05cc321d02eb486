"""How far behind a consumer is, and whose consumer it is: pure arithmetic over what JetStream
reports, so the readers and the tests agree on one definition.

Lag as time is the age of the oldest message the consumer has not acknowledged: the first
message after its ack floor that its filter matches. A consumer with nothing pending and
nothing waiting for an ack has caught up: its lag is zero, however old its last message is.
"""

from __future__ import annotations

from datetime import datetime

from contracts.consumers import CONSUMERS, READERS

# Every durable consumer of the event stream and the service that runs it.
_OWNERS = {c.durable: service for table in (CONSUMERS, READERS) for service, cs in table.items() for c in cs}


def service_of(durable: str) -> str | None:
    """The service that runs the durable consumer `durable`; None for one no service declares."""
    return _OWNERS.get(durable)


def oldest_pending_seq(ack_floor_stream_seq: int) -> int:
    """The first stream sequence the consumer may still owe an acknowledgement for."""
    return ack_floor_stream_seq + 1


def caught_up(pending: int, ack_pending: int) -> bool:
    return pending == 0 and ack_pending == 0


def lag_seconds(now: datetime, pending: int, ack_pending: int, oldest_pending_at: datetime | None) -> float | None:
    """The age of the oldest unacknowledged message: 0 when caught up, None when it is owed but
    could not be read (gone from the stream meanwhile, or on a stream the reader may not read)."""
    if caught_up(pending, ack_pending):
        return 0.0
    if oldest_pending_at is None:
        return None
    return max(0.0, (now - oldest_pending_at).total_seconds())
