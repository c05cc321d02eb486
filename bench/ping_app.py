"""The admission baseline: the gateway's own app shell (its error handler and middleware) with
one route that does no work, served by uvicorn with the gateway's options.

python -m bench.ping_app <port>
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import Request

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
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
