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
    """`token` is an access token (from signup, login or accept) or an API key (`qk_...`): both are bearer credentials."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout)
        self.token = token

    def close(self) -> None:
        self.http.close()

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def signup(self, email: str, password: str, tenant_name: str) -> dict[str, Any]:
        return self._sign_in("/v1/auth/signup", {"email": email, "password": password, "tenant_name": tenant_name})

    def login(self, email: str, password: str) -> dict[str, Any]:
        return self._sign_in("/v1/auth/login", {"email": email, "password": password})

    def accept(self, invite_token: str, password: str) -> dict[str, Any]:
        """Accept an invite (from `invite`) with a password of one's own; signs this client in."""
        return self._sign_in("/v1/auth/accept", {"invite_token": invite_token, "password": password})

    def _sign_in(self, path: str, credentials: dict[str, str]) -> dict[str, Any]:
        """Post `credentials` to an auth endpoint; its access token signs this client in."""
        r = self.http.post(path, json=credentials)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        self.token = body["access_token"]
        return body

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Any call with this client's credentials; the response as it came (no raise)."""
        headers = {**self._auth, **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def invite(self, email: str, role: str = "member") -> dict[str, Any]:
        """Add a member to this client's tenant; the answer holds their one-time `invite_token`."""
        r = self.request("POST", "/v1/members", json={"email": email, "role": role})
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def create_key(self, name: str, scopes: list[str], expires_in_days: int | None = None) -> dict[str, Any]:
        """A new API key; its secret (`api_key`) is in this answer only."""
        r = self.request("POST", "/v1/keys", json={"name": name, "scopes": scopes, "expires_in_days": expires_in_days})
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def stream_ticket(self, run_id: str) -> str:
        """A single-use ticket for the run's event stream (what a browser's EventSource would use)."""
        r = self.request("POST", f"/v1/runs/{run_id}/events/ticket")
        r.raise_for_status()
        return str(r.json()["ticket"])

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

    def events(
        self, run_id: str, last_event_id: str | None = None, timeout: float = 300.0, *, via_ticket: bool = False
    ) -> Iterator[SseEvent]:
        """The run's SSE stream until the server ends it.

        httpx can send headers, so by default the stream is opened with the Authorization header;
        `via_ticket` takes the browser's way instead (a single-use stream ticket in the URL).
        """
        headers: dict[str, str] = {}
        params: dict[str, str] = {}
        if via_ticket:
            params["ticket"] = self.stream_ticket(run_id)
        else:
            headers.update(self._auth)
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        url = f"/v1/runs/{run_id}/events"
        with self.http.stream("GET", url, headers=headers, params=params, timeout=timeout) as r:
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
