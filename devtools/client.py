"""A small client of the gateway's REST + SSE API (used by the demo, tests and benchmarks)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class SseEvent:
    id: str | None
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class QuarryClient:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout)
        self.token = token

    def close(self) -> None:
        self.http.close()

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def signup(self, email: str, password: str, tenant_name: str) -> dict[str, Any]:
        r = self.http.post("/v1/auth/signup", json={"email": email, "password": password, "tenant_name": tenant_name})
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        self.token = body["access_token"]
        return body

    def login(self, email: str, password: str) -> dict[str, Any]:
        r = self.http.post("/v1/auth/login", json={"email": email, "password": password})
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        self.token = body["access_token"]
        return body

    def create_run(self, question: str, depth: int = 2, max_sources: int = 8) -> str:
        r = self.http.post(
            "/v1/runs", json={"question": question, "depth": depth, "max_sources": max_sources}, headers=self._auth
        )
        r.raise_for_status()
        return str(r.json()["run_id"])

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path, headers=self._auth)

    def run(self, run_id: str) -> dict[str, Any]:
        r = self.get(f"/v1/runs/{run_id}")
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def upload(self, title: str, content: str, content_type: str = "text/plain") -> str:
        r = self.http.post(
            "/v1/documents", json={"title": title, "content": content, "content_type": content_type}, headers=self._auth
        )
        r.raise_for_status()
        return str(r.json()["document_id"])

    def events(self, run_id: str, last_event_id: str | None = None, timeout: float = 300.0) -> Iterator[SseEvent]:
        """The run's SSE stream until the server ends it."""
        headers = dict(self._auth)
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        with self.http.stream("GET", f"/v1/runs/{run_id}/events", headers=headers, timeout=timeout) as r:
            r.raise_for_status()
            yield from parse_sse(r.iter_lines())


def parse_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    """Parse the text/event-stream format (comments and pings skipped)."""
    event_id: str | None = None
    kind = "message"
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield SseEvent(event_id, kind, "\n".join(data))
            event_id, kind, data = None, "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "id":
            event_id = value
        elif field == "event":
            kind = value
        elif field == "data":
            data.append(value)
