"""A local OpenAI-compatible embeddings server (`POST /v1/embeddings`, the real protocol on 127.0.0.1).

Its "model" is feature hashing: each lower-cased word and word pair adds +-1 to one of `dimension`
coordinates, and the vector is L2-normalised. Texts sharing words point the same way, which is all
a test of hybrid retrieval needs; it counts requests and inputs and can be told to fail.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise

from fastapi import Request
from fastapi.responses import JSONResponse

from tests.fakes.serving import OpenAiRoute, serve_app

API_KEY = "sk-quarry-embed"
MODEL = "fake-hash-embed"
_WORD = re.compile(r"[a-z0-9]+")


def embed(text: str, dimension: int) -> list[float]:
    words = _WORD.findall(text.lower())
    vector = [0.0] * dimension
    for feature in [*words, *(f"{a} {b}" for a, b in pairwise(words))]:
        h = zlib.crc32(feature.encode())
        vector[h % dimension] += 1.0 if (h >> 16) & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class FakeEmbeddings(OpenAiRoute):
    def __init__(self, dimension: int = 256) -> None:
        super().__init__("/v1/embeddings", API_KEY)
        self.dimension = dimension
        self.requests = 0
        self.inputs = 0
        self.fail_next: list[int] = []  # statuses to answer before serving again

    async def answer(self, request: Request) -> JSONResponse:
        with self._lock:
            self.requests += 1
            failure = self.fail_next.pop(0) if self.fail_next else None
        if failure is not None:
            return JSONResponse({"error": {"message": f"injected failure {failure}"}}, status_code=failure)
        body = await request.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if body.get("model") != MODEL:
            return JSONResponse({"error": {"message": f"model {body.get('model')!r} not found"}}, status_code=404)
        with self._lock:
            self.inputs += len(texts)
        data = [{"object": "embedding", "index": i, "embedding": embed(t, self.dimension)} for i, t in enumerate(texts)]
        tokens = sum(len(t.split()) for t in texts)
        return JSONResponse(
            {
                "object": "list",
                "model": MODEL,
                "data": data,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


@contextmanager
def serve(fake: FakeEmbeddings) -> Iterator[str]:
    """Run the fake on a free loopback port; yields its base URL (…/v1)."""
    with serve_app(fake.app, "fake-embeddings") as url:
        yield url + "/v1"
