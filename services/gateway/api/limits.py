"""Request body limits, enforced as the body streams in and before any route parses it.

A body that declares a length over its route's limit is answered 413 without reading a byte of it;
one sent chunked (or lying about its length) is cut off with a 413 as soon as it passes the limit,
so an anonymous client cannot make the gateway hold, parse or spool more than that.

Starlette's RequestBodyLimitMiddleware is not used: it checks a declared length only when the app
reads the body or starts its answer, so a route without a body (a DELETE) would run and then
answer 413; here a 413 always means the app never ran, and it names the route's limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from services.gateway.settings import GatewaySettings

# Room for the multipart boundaries, part headers and the small form fields beside the file.
MULTIPART_OVERHEAD = 64 * 1024
_UPLOADS = re.compile(r"^/v1/datasets/[^/]+/files/?$")
_TEXT_DOCUMENTS = re.compile(r"^/v1/(documents|datasets/[^/]+/documents)/?$")
_WEBHOOK = re.compile(r"^/v1/billing/webhook/?$")
# Sent with every 413, so the server stops reading a body nobody will read (uvicorn then closes).
_CLOSE = (b"connection", b"close")


def body_limit(settings: GatewaySettings, path: str) -> int:
    """The most bytes a request body to `path` may have."""
    if _WEBHOOK.match(path):
        return settings.max_webhook_body_bytes
    if _UPLOADS.match(path):
        return settings.max_upload_bytes + MULTIPART_OVERHEAD
    if _TEXT_DOCUMENTS.match(path):
        # A document's text as JSON: as large as an uploaded file may be.
        return settings.max_upload_bytes
    return settings.max_json_body_bytes


class BodyTooLarge(HTTPException):
    """Raised from `receive` inside the app: FastAPI passes an HTTPException from body parsing on."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the {limit} bytes this route accepts")


class BodyLimits:
    """ASGI middleware; `settings` is read per request (the app may be built before its settings)."""

    def __init__(self, app: ASGIApp, settings: Callable[[], GatewaySettings]) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(self.settings(), scope["path"])
        lengths = [v for k, v in scope["headers"] if k.lower() == b"content-length"]
        if lengths:
            try:
                declared = int(lengths[0])
            except ValueError:
                await _refuse(send, 400, "the Content-Length header is not a number")
                return
            if declared > limit:
                await _refuse(send, 413, BodyTooLarge(limit).detail)
                return

        received = 0
        too_large: BodyTooLarge | None = None

        async def limited_receive() -> Message:
            nonlocal received, too_large
            if too_large is not None:
                raise too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = BodyTooLarge(limit)
                    raise too_large
            return message

        started = False
        answered = False  # the 413 replaced whatever the app began to answer

        async def checked_send(message: Message) -> None:
            nonlocal started, answered
            if answered:
                return
            if message["type"] == "http.response.start" and too_large is not None:
                if message["status"] != 413:
                    # A route swallowed the error (a broad except around its body parsing): still a 413.
                    answered = True
                    await _refuse(send, 413, too_large.detail)
                    return
                message = {**message, "headers": [*message.get("headers", []), _CLOSE]}
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, checked_send)
        except BodyTooLarge as exc:
            if not (started or answered):
                await _refuse(send, 413, exc.detail)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        _CLOSE,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
