"""A minimal HTTP probe (`GET /healthz`, `GET /metrics`) for services that serve no other HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from prometheus_client import generate_latest

Check = Callable[[], Awaitable[bool]]


class HealthServer:
    def __init__(self, service: str, port: int, checks: dict[str, Check], host: str = "127.0.0.1") -> None:
        self.service = service
        self.port = port
        self.host = host
        self.checks = checks
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def report(self) -> tuple[bool, dict[str, object]]:
        results: dict[str, bool] = {}
        for name, check in self.checks.items():
            try:
                results[name] = await asyncio.wait_for(check(), timeout=2.0)
            except Exception:  # noqa: BLE001 - a failing check is reported, not raised
                results[name] = False
        healthy = all(results.values())
        return healthy, {"service": self.service, "status": "ok" if healthy else "degraded", "checks": results}

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await asyncio.wait_for(reader.readline(), timeout=5)).decode(errors="replace")
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            path = request_line.split(" ")[1] if request_line.count(" ") >= 2 else "/"
            if path == "/healthz":
                healthy, body = await self.report()
                status = "200 OK" if healthy else "503 Service Unavailable"
                payload, media = json.dumps(body).encode(), "application/json"
            elif path == "/metrics":
                status, payload, media = "200 OK", generate_latest(), "text/plain; version=0.0.4"
            else:
                status, payload, media = "404 Not Found", b'{"detail":"not found"}', "application/json"
            head = f"HTTP/1.1 {status}\r\nContent-Type: {media}\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
            writer.write(head.encode() + payload)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
