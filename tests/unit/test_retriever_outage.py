"""A Qdrant server that cannot be reached, or answers that it is unavailable, is an outage the
bus waits out (`Unavailable`), not a fault of the task's message that would count toward
dead-lettering it; any other refusal stays an error of the call."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from qdrant_client.http.exceptions import UnexpectedResponse

from devtools.natsserver import free_port
from quarry_runtime.errors import Unavailable
from services.retriever.index import SourceIndex


def answering(status: int) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = b'{"status": {"error": "down for maintenance"}}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def unavailable_server() -> Iterator[str]:
    yield from answering(503)


@pytest.fixture
def refusing_server() -> Iterator[str]:
    yield from answering(400)


def test_a_server_nobody_listens_on_is_an_outage() -> None:
    index = SourceIndex(url=f"http://127.0.0.1:{free_port()}", collection="sources")
    try:
        with pytest.raises(Unavailable, match="cannot be reached"):
            index.search("tides", ["t1"], limit=3)
        with pytest.raises(Unavailable):
            index.count("t1")
    finally:
        index.close()


def test_a_server_answering_503_is_an_outage(unavailable_server: str) -> None:
    index = SourceIndex(url=unavailable_server, collection="sources")
    try:
        with pytest.raises(Unavailable, match="503"):
            index.search("tides", ["t1"], limit=3)
    finally:
        index.close()


def test_a_request_the_server_refuses_is_an_error_of_the_call(refusing_server: str) -> None:
    index = SourceIndex(url=refusing_server, collection="sources")
    try:
        with pytest.raises(UnexpectedResponse):
            index.search("tides", ["t1"], limit=3)
    finally:
        index.close()
