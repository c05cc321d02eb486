"""`/metrics` in Prometheus's text format, and a small HTTP server on a thread of its own to serve it.

The workers serve it beside their probes (quarry_runtime.health); the gateway, whose probes are
routes of its API, serves it alone on its health port, so the public port never shows it. On its
own thread and event loop, a scrape costs the service's loop nothing and is answered even while
that loop is busy.
"""

from __future__ import annotations

import asyncio
import socket
import threading

import uvicorn
from prometheus_client import generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp


async def metrics(_: Request) -> Response:
    """Every metric of the process, from prometheus_client's default registry."""
    # The text format generate_latest writes (prometheus_client's "latest" names a newer one).
    return Response(generate_latest(), headers={"content-type": "text/plain; version=0.0.4"})


def metrics_app() -> Starlette:
    async def not_found(_: Request, __: Exception) -> Response:
        return Response('{"detail": "not found"}', status_code=404, media_type="application/json")

    return Starlette(routes=[Route("/metrics", metrics)], exception_handlers={404: not_found, 405: not_found})


class ThreadServer:
    """Serves an ASGI app with uvicorn on a thread and event loop of its own."""

    def __init__(self, app: ASGIApp, port: int, host: str = "127.0.0.1", name: str = "http") -> None:
        self.app = app
        self.port = port
        self.host = host
        self.name = name
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # Bound here, so a port taken fails the start and port 0 is known at once.
        sock = socket.create_server((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True)
        # The socket listens already: a request arriving before uvicorn serves waits in its backlog.
        self._thread.start()

    async def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            await asyncio.to_thread(self._thread.join)
            self._server = self._thread = None
