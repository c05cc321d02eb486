"""The gateway's settings as the stack runs it on a NATS of a test's own: connected as its own
NATS user, with only its permissions, and (for the operators' console) as the `ops` user beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quarry_security import natsauth
from services.gateway.settings import GatewaySettings
from tests.servers import PrivateNats
from tests.support.gateway import JWT_SECRET


def gateway_as_itself(server: PrivateNats, data_dir: Path, *, ops: bool = True, **settings: Any) -> GatewaySettings:
    """Settings of a gateway on `server` keeping its state in `data_dir`; `settings` override."""
    console = {"ops_nats_user": natsauth.OPS, "ops_nats_password": server.passwords[natsauth.OPS]} if ops else {}
    fields: dict[str, Any] = {
        "data_dir": data_dir,
        "jwt_secret": JWT_SECRET,
        "nats_url": server.url,
        "nats_user": "gateway",
        "nats_password": server.passwords["gateway"],
        **console,
        **settings,
    }
    return GatewaySettings(**fields)
