"""Time-sortable event ids (UUIDv7, RFC 9562), with no dependency beyond the standard library."""

from __future__ import annotations

import hashlib
import os
import time
import uuid


def _uuid7_from(ms: int, rand: bytes) -> uuid.UUID:
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= (int.from_bytes(rand[:2], "big") & 0x0FFF) << 64
    value |= 0b10 << 62
    value |= int.from_bytes(rand[2:10], "big") & 0x3FFF_FFFF_FFFF_FFFF
    return uuid.UUID(int=value)


def new_id() -> str:
    """A fresh UUIDv7: unique, and ordered by creation time to the millisecond."""
    return str(_uuid7_from(time.time_ns() // 1_000_000, os.urandom(10)))


def derived_id(parent_id: str, name: str) -> str:
    """A UUIDv7 fixed by (parent, name): a reaction to a redelivered event gets the same id.

    It keeps the parent's timestamp so it still sorts with its cause, and JetStream's
    de-duplication (Nats-Msg-Id) drops the second publish of the same reaction.
    """
    parent = uuid.UUID(parent_id)
    ms = parent.int >> 80 if parent.version == 7 else time.time_ns() // 1_000_000
    digest = hashlib.sha256(f"{parent_id}:{name}".encode()).digest()
    return str(_uuid7_from(ms, digest))


def id_time_ms(event_id: str) -> int:
    """Milliseconds since the epoch encoded in a UUIDv7."""
    return uuid.UUID(event_id).int >> 80


def stable_id(key: str, at_ms: int) -> str:
    """A UUIDv7 at `at_ms` fixed by `key`: the same stored fact always maps to the same event id."""
    return str(_uuid7_from(at_ms, hashlib.sha256(key.encode()).digest()))
