"""Name resolution and transports for the SSRF guard's tests: a resolver that rebinds, and an
inner transport that records where a request would have gone."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

PUBLIC = "93.184.216.34"


@dataclass
class Rebinding:
    """A resolver that answers each name with the next of its answers: public first, then inward."""

    answers: list[list[str]]
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


@dataclass
class Recorder:
    """The inner transport: records where each request would have connected, answers 200."""

    seen: list[httpx.Request] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.seen.append(request)
            return httpx.Response(200, text="ok")

        return httpx.MockTransport(handle)
