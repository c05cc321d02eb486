"""The admission baseline: the gateway's own app shell (its error handler and middleware) with
one route that does no work, in a process set up as the gateway's (`services.gateway.__main__`:
its logging, its tracer provider, which gives every request a server span and a trace id even
with no exporter, and its frozen start-up heap), served by uvicorn with the gateway's options.

python -m bench.ping_app <port>
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import Request

from quarry_runtime.service import freeze_startup_heap
from quarry_runtime.telemetry import configure
from services.gateway.app import api_shell
from services.gateway.settings import GatewaySettings


async def _signed_out(_: Request) -> bool:
    return False


settings = GatewaySettings()
app = api_shell(lambda: settings, _signed_out)


@app.post("/ping")
async def ping() -> dict[str, bool]:
    return {"ok": True}


@app.get("/healthz")
async def healthz() -> dict[str, bool]:
    return {"ok": True}


if __name__ == "__main__":
    configure("ping", settings.log_level, settings.log_format, settings.environment)
    freeze_startup_heap()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
