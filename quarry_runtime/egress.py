"""Server-side request forgery guard for addresses someone else chose: non-public ones are refused.

A search result (or a redirect, or a robots.txt redirect), or a model endpoint a tenant typed in,
could otherwise point us at the cloud metadata service, a database console or anything else only
reachable from inside.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx


class BlockedAddress(httpx.TransportError):
    """The host resolves to an address this fetcher must not reach (loopback, private, link-local...)."""


class GuardedTransport(httpx.AsyncBaseTransport):
    """Refuses requests to non-public addresses, so an address from outside cannot make us read
    the metadata service or an internal admin page (server-side request forgery)."""

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
    problem = await non_public(request.url)
    if problem:
        raise BlockedAddress(problem, request=request)


async def non_public(url: httpx.URL | str) -> str | None:
    """Why `url`'s host must not be reached (it resolves to a non-public address), or None.
    A host that does not resolve is not judged here: the request itself will fail."""
    url = httpx.URL(url)
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            return None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        mapped = getattr(address, "ipv4_mapped", None)
        if not (mapped or address).is_global:
            return f"{host} resolves to non-public address {address}"
    return None
