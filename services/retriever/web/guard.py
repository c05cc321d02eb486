"""Server-side request forgery guard: pages on non-public addresses are not fetched.

A search result (or a redirect, or a robots.txt redirect) could otherwise point the fetcher at
the cloud metadata service, a database console or anything else only reachable from inside.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx


class BlockedAddress(httpx.TransportError):
    """The host resolves to an address this fetcher must not reach (loopback, private, link-local...)."""


class GuardedTransport(httpx.AsyncBaseTransport):
    """Refuses requests to non-public addresses, so a search result cannot make us read the
    metadata service or an internal admin page (server-side request forgery)."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None, *, allow_private: bool = False) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.allow_private = allow_private

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.allow_private:
            await _check_public(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _check_public(request: httpx.Request) -> None:
    host = request.url.host
    port = request.url.port or (443 if request.url.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}", request=request) from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        mapped = getattr(address, "ipv4_mapped", None)
        if not (mapped or address).is_global:
            raise BlockedAddress(f"{host} resolves to non-public address {address}", request=request)
