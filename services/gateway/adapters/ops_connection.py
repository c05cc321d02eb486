"""The operators' console's own connection to NATS, as the `ops` user (quarry_security.natsauth).

Apart from the gateway's service connection, whose user may not read events by sequence: only
the `/v1/ops/` routes use this one. Opened on the first operator's request (most replicas never
serve one) and kept while it lasts; closed with the app.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import nats
import nats.errors
from nats.aio.client import Client

from quarry_runtime.bus import inbox_prefix
from services.gateway.errors import Unavailable

USER = "ops"  # quarry_security.natsauth.OPS
CONNECT_TIMEOUT_S = 2


class OpsConnection:
    def __init__(self, url: str, credentials: tuple[str, str], tls_ca_file: Path | None = None) -> None:
        self._servers = [u.strip() for u in url.split(",") if u.strip()]
        self._credentials, self._tls_ca_file = credentials, tls_ca_file
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        """The connection, opened when there is none (or the last one was closed)."""
        async with self._lock:
            if self._client is None or self._client.is_closed:
                self._client = await self._connect()
            return self._client

    async def _connect(self) -> Client:
        tls = ssl.create_default_context(cafile=str(self._tls_ca_file)) if self._tls_ca_file else None
        user, password = self._credentials
        try:
            return await nats.connect(
                servers=self._servers,
                user=user,
                password=password,
                tls=tls,
                inbox_prefix=inbox_prefix(USER).encode(),
                connect_timeout=CONNECT_TIMEOUT_S,
                # A lost connection closes, and the next request opens another: an operator's
                # request fails fast (503) while NATS is away rather than waiting on reconnects.
                allow_reconnect=False,
            )
        except (OSError, nats.errors.Error) as exc:
            raise Unavailable(f"the operators' connection to NATS failed: {exc}") from exc

    async def close(self) -> None:
        async with self._lock:
            if self._client is not None and not self._client.is_closed:
                await self._client.close()
            self._client = None
