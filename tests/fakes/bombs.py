"""Hostile HTTP bodies: compression bombs sent in network-sized pieces, and a way to measure what
reading one held in memory at once."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx


def packed_zeros(size: int, layers: int) -> bytes:
    """`size` zero bytes gzipped `layers` times, without ever holding them unpacked."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    packed = b"".join(packer.compress(block) for _ in range(size // len(block))) + packer.flush()
    for _ in range(layers - 1):
        packed = gzip.compress(packed, 9)
    return packed


class Chunked(httpx.AsyncByteStream):
    """`body` sent in network-sized pieces, as a real connection delivers it."""

    def __init__(self, body: bytes, size: int = 64 * 1024) -> None:
        self.body, self.size = body, size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.body), self.size):
            yield self.body[start : start + self.size]


class Peak:
    """The most memory Python held at once inside `peak_memory()`."""

    bytes = 0


@contextmanager
def peak_memory() -> Iterator[Peak]:
    peak = Peak()
    tracemalloc.start()
    try:
        yield peak
        _, peak.bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
