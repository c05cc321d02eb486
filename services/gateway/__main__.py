"""python -m services.gateway"""

import uvicorn

from quarry_runtime.service import freeze_startup_heap
from quarry_runtime.telemetry import configure
from services.gateway.bootstrap import build
from services.gateway.settings import GatewaySettings

if __name__ == "__main__":
    settings = GatewaySettings()
    configure("gateway", settings.log_level, settings.log_format, settings.environment)
    app = build(settings)
    freeze_startup_heap()
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        log_config=None,  # uvicorn's lines go through the root logger's handler, as JSON in production
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
