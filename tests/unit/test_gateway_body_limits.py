"""Request bodies are limited while they stream in, before any route parses them: a declared length
over the limit is a 413 at once, a chunked body is cut off with a 413 as soon as it passes the limit
(also one that never ends, over a real socket to uvicorn), and the gateway reads no more than that."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quarry_runtime.store import SqlDatabase
from services.gateway.api.deps import Components
from services.gateway.api.limits import MULTIPART_OVERHEAD
from services.gateway.app import create_app
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings

MiB = 1024 * 1024
JSON_LIMIT = 64 * 1024
WEBHOOK_LIMIT = 16 * 1024
UPLOAD_LIMIT = 128 * 1024


class Counted:
    """The bytes of request body the server handed to the gateway app: what it had to hold."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.delivered = app, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counting() -> Message:
            message = await receive()
            self.delivered += len(message.get("body", b""))
            return message

        await self.app(scope, counting, send)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Counted]:
    settings = GatewaySettings(
        data_dir=tmp_path,
        max_json_body_bytes=JSON_LIMIT,
        max_webhook_body_bytes=WEBHOOK_LIMIT,
        max_upload_bytes=UPLOAD_LIMIT,
    )
    db = SqlDatabase(settings, "gateway")
    # No bus: every request here is refused or answered before anything is published.
    parts = Components(settings, GatewayStore(db), cast(Any, None), RunFeed(), cast(Any, None), MonitorStore(db))
    yield Counted(create_app(parts))
    db.close()


@pytest.fixture
async def http(app: Counted) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client


def _endless(chunk: int = 8 * 1024, up_to: int = 64 * MiB) -> Iterator[bytes]:
    sent = 0
    while sent < up_to:
        sent += chunk
        yield b"x" * chunk


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(
    http: httpx.AsyncClient, app: Counted
) -> None:
    login = {"email": "a@example.com", "password": "x" * (JSON_LIMIT + 1)}
    r = await http.post("/v1/auth/login", json=login)
    assert r.status_code == 413 and str(JSON_LIMIT) in r.json()["detail"]
    r = await http.post("/v1/billing/webhook", content=b"{" + b" " * WEBHOOK_LIMIT + b"}")
    assert r.status_code == 413 and str(WEBHOOK_LIMIT) in r.json()["detail"]
    assert app.delivered == 0
    # Under the limits the routes answer as before (a wrong password, a missing signature).
    r = await http.post("/v1/auth/login", json={"email": "a@example.com", "password": "wrong-password-1"})
    assert r.status_code == 401
    r = await http.post("/v1/billing/webhook", content=b"{" + b" " * (WEBHOOK_LIMIT - 8) + b"}")
    assert r.status_code == 400 and "Stripe-Signature" in r.text


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/v1/auth/login", JSON_LIMIT),
        ("/v1/auth/signup", JSON_LIMIT),
        ("/v1/billing/webhook", WEBHOOK_LIMIT),
        ("/v1/runs", JSON_LIMIT),  # served by api.direct, which reads the body itself
    ],
)
async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(
    http: httpx.AsyncClient, app: Counted, path: str, limit: int
) -> None:
    r = await http.post(path, content=_aiter(_endless()), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.headers["connection"] == "close"
    assert limit < app.delivered <= limit + 8 * 1024


async def test_an_upload_is_cut_off_at_its_limit_not_spooled_whole(http: httpx.AsyncClient, app: Counted) -> None:
    boundary = "quarry-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from _endless()

    r = await http.post(
        "/v1/datasets/docs/files",
        content=_aiter(body()),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Authorization": "Bearer x"},
    )
    assert r.status_code == 413
    assert app.delivered <= UPLOAD_LIMIT + MULTIPART_OVERHEAD + 8 * 1024


async def test_an_upload_up_to_its_limit_reaches_the_route(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/v1/auth/signup",
        json={"email": "o@example.com", "password": "a-long-passphrase-9", "tenant_name": "acme"},
    )
    assert r.status_code == 201, r.text
    auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
    # The whole file fits the body limit with its framing: the route itself answers (no such dataset).
    files = {"file": ("notes.txt", b"x" * UPLOAD_LIMIT, "text/plain")}
    r = await http.post("/v1/datasets/docs/files", files=files, data={"title": "Notes"}, headers=auth)
    assert r.status_code == 404 and "dataset" in r.text


# --- over a real socket, to uvicorn ------------------------------------------------------------------


@pytest.fixture
def server(app: Counted) -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield port
    uv.should_exit = True
    thread.join(timeout=10)


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def test_a_chunked_body_that_never_ends_gets_a_413_over_a_real_socket(server: int, app: Counted) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
        sock.sendall(
            b"POST /v1/auth/login HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"2000\r\n" + b"x" * 0x2000 + b"\r\n"
        sent, reply = 0, b""
        deadline = time.monotonic() + 30
        while not reply and time.monotonic() < deadline and sent < 256 * MiB:
            readable, writable, _ = select.select([sock], [sock], [], 0.5)
            if readable:
                reply = sock.recv(65536)
                break
            if writable:
                try:
                    sent += sock.send(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    reply = sock.recv(65536)
                    break
        assert reply, f"no answer after {sent} bytes"
        assert _status(reply) == 413 and b"connection: close" in reply.lower()
    # The server handed the app no more than the limit and one read; the rest was never taken in.
    assert app.delivered <= JSON_LIMIT + 128 * 1024
    assert sent < 64 * MiB


def test_a_declared_gigabyte_is_refused_at_once_over_a_real_socket(server: int, app: Counted) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /v1/billing/webhook HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1073741824\r\n\r\n"
        )
        reply = sock.recv(65536)
        assert _status(reply) == 413 and time.monotonic() - started < 5
        assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["detail"].startswith("the request body is larger")
    assert app.delivered == 0


def test_the_limits_are_settings_with_sane_defaults() -> None:
    settings = GatewaySettings()
    assert (settings.max_json_body_bytes, settings.max_webhook_body_bytes) == (MiB, 256 * 1024)
    with pytest.raises(ValueError):
        GatewaySettings(max_json_body_bytes=0)
