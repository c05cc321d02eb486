"""Running an ASGI app on a free loopback port in a thread, for the local servers tests talk to."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from devtools.natsserver import free_port, wait_for_port


@contextmanager
def serve_app(app: FastAPI, name: str) -> Iterator[str]:
    """Serve `app` on 127.0.0.1; yields its base URL (no trailing slash)."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    wait_for_port("127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def key_refused(request: Request, api_key: str) -> JSONResponse | None:
    """OpenAI's answer to a request without `api_key` as its bearer token; None when it has it."""
    if request.headers.get("authorization") == f"Bearer {api_key}":
        return None
    return JSONResponse({"error": {"message": "Incorrect API key provided"}}, status_code=401)


class OpenAiRoute:
    """A fake of one route of OpenAI's API: `app` refuses a wrong API key and hands the rest to
    `answer`; `_lock` guards the counters a subclass keeps (the server runs in its own thread)."""

    def __init__(self, path: str, api_key: str) -> None:
        self._lock = threading.Lock()
        self.app = FastAPI()

        @self.app.post(path)
        async def route(request: Request) -> JSONResponse:
            refused = key_refused(request, api_key)
            return refused if refused is not None else await self.answer(request)

    async def answer(self, request: Request) -> JSONResponse:
        raise NotImplementedError
