"""Running an ASGI app on a free loopback port in a thread, for the local servers tests talk to."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

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
