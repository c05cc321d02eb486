"""Time-sortable event ids (UUIDv7, RFC 9562), with no dependency beyond the standard library."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid

_last_ms = 0
_counter = 0
_lock = threading.Lock()


def _uuid7_from(ms: int, rand: bytes) -> uuid.UUID:
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= (int.from_bytes(rand[:2], "big") & 0x0FFF) << 64
    value |= 0b10 << 62
    value |= int.from_bytes(rand[2:10], "big") & 0x3FFF_FFFF_FFFF_FFFF
    return uuid.UUID(int=value)


def new_id() -> str:
    """A fresh UUIDv7: unique, ordered by creation time, and in one process strictly increasing.

    Ids made in the same millisecond count up in the 12 bits after the timestamp (RFC 9562,
    method 3), so events one producer makes back to back still sort in the order it made them.
    """
    global _last_ms, _counter
    rand = os.urandom(10)
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms, _counter = ms, int.from_bytes(rand[:2], "big") & 0x07FF  # room to count up
        else:
            _counter += 1
            if _counter > 0x0FFF:  # 4096 ids in one millisecond: borrow the next one
                _last_ms, _counter = _last_ms + 1, 0
        ms, counter = _last_ms, _counter
    return str(_uuid7_from(ms, counter.to_bytes(2, "big") + rand[2:]))


def derived_id(parent_id: str, name: str) -> str:
    """A UUIDv7 fixed by (parent, name): a reaction to a redelivered event gets the same id.

    It keeps the parent's timestamp so it still sorts with its cause, and JetStream's
    de-duplication (Nats-Msg-Id) drops the second publish of the same reaction.
    """
    # A UUIDv7 parent's top 48 bits are its time; any other UUID's are still a fixed value.
    ms = uuid.UUID(parent_id).int >> 80
    digest = hashlib.sha256(f"{parent_id}:{name}".encode()).digest()
    return str(_uuid7_from(ms, digest))


def id_time_ms(event_id: str) -> int:
    """Milliseconds since the epoch encoded in a UUIDv7."""
    return uuid.UUID(event_id).int >> 80


def stable_id(key: str, at_ms: int, sequence: int | None = None) -> str:
    """A UUIDv7 at `at_ms` fixed by `key`: the same stored fact always maps to the same event id.

    `sequence` (e.g. an aggregate version) fills the 12 bits after the timestamp, as RFC 9562
    allows, so ids of one producer made in the same millisecond still sort in order.
    """
    digest = hashlib.sha256(key.encode()).digest()
    if sequence is not None:
        digest = (sequence & 0x0FFF).to_bytes(2, "big") + digest[2:]
    return str(_uuid7_from(at_ms, digest))
