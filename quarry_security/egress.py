"""Server-side request forgery guard for addresses someone else chose: non-public ones are refused.

A search result (or a redirect, or a robots.txt redirect), or a model endpoint a tenant typed in,
could otherwise point us at the cloud metadata service, a database console or anything else only
reachable from inside.

The name is resolved once per request and every address it resolves to is checked; the request
then goes to the checked address itself, with the Host header and TLS server name (SNI, and so
certificate verification) of the original name. Resolving a second time to connect would let a
name answer a public address to the check and an inner one to the connection (DNS rebinding).
A name that does not resolve is refused rather than passed on to a resolver we did not check.
Connections are pooled per name, not per address, so a TLS connection verified for one name never
carries a request for another name at the same address.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses the host resolves to, as text; raises OSError when it does not.
Resolver = Callable[[str, int], Awaitable[list[str]]]

# IPv6 prefixes that carry an IPv4 address a gateway will reach for us: judge that IPv4 address.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


# Cloud metadata services (AWS's IPv6 one, Alibaba's) outside the link-local ranges: they hand out
# this machine's credentials, so even `allow_private` never reaches them.
_METADATA = frozenset(ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200"))


class BlockedAddress(httpx.TransportError):
    """The host resolves to an address this fetcher must not reach (loopback, private, link-local...),
    or does not resolve at all."""


class Unresolvable(BlockedAddress):
    """The host does not resolve (now): refused, though a later attempt may find it."""


# Lookups have threads of their own (made on first use): a name whose DNS never answers holds one
# until the system resolver gives up, and the services' own work (asyncio.to_thread, the event
# loop's default pool) must not queue behind such names, nor lookups behind that work.
_LOOKUPS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="quarry-dns")


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of `host` from the system resolver (getaddrinfo, off the event loop)."""
    lookup = functools.partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    infos = await asyncio.get_running_loop().run_in_executor(_LOOKUPS, lookup)
    return [str(info[4][0]) for info in infos]


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, NAT64, 6to4, Teredo client), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def metadata_problem(address: IPAddress) -> str | None:
    """Why `address` may be a cloud metadata service (link-local, or a known one), or None."""
    inner = embedded_ipv4(address)
    judged: IPAddress = inner if inner is not None else address
    if judged.is_link_local or judged in _METADATA:
        return f"link-local or metadata service address {address}"
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why `address` is not one to reach from here (judged by the IPv4 inside it if it has one), or None."""
    inner = embedded_ipv4(address)
    judged: IPAddress = inner if inner is not None else address
    # Python counts deprecated site-local IPv6 (fec0::/10) as global; some networks still route it inside.
    site_local = isinstance(judged, ipaddress.IPv6Address) and judged.is_site_local
    if judged.is_multicast or judged.is_unspecified or judged.is_reserved or site_local or not judged.is_global:
        shown = f"{address} (IPv4 {inner})" if inner is not None else str(address)
        return f"non-public address {shown}"
    return None


async def resolve_checked(
    url: httpx.URL | str, *, resolver: Resolver = system_resolver, allow_private: bool = False
) -> list[IPAddress]:
    """The addresses `url`'s host resolves to (one lookup), all of them public; with `allow_private`,
    none of them link-local or a metadata service.

    Raises `BlockedAddress` when the lookup fails or answers nothing, or when any address is not
    public: a name with one inner address among public ones is refused, not filtered.
    """
    url = httpx.URL(url)
    # The ASCII (IDNA) form: what DNS and the TLS server name use.
    host = url.raw_host.decode("ascii").strip("[]")
    if not host:
        raise BlockedAddress(f"{url} names no host")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            answered = await resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise Unresolvable(f"{host} does not resolve ({exc})") from exc
        try:
            # A scoped IPv6 answer ("fe80::1%eth0") is link-local whatever its scope.
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answered]
        except ValueError as exc:
            raise BlockedAddress(f"{host} resolves to something that is no address ({exc})") from exc
    if not addresses:
        raise Unresolvable(f"{host} resolves to no address")
    judge = metadata_problem if allow_private else address_problem
    for address in addresses:
        problem = judge(address)
        if problem:
            raise BlockedAddress(f"{host} resolves to {problem}")
    return list(dict.fromkeys(addresses))


async def non_public(url: httpx.URL | str, *, resolver: Resolver = system_resolver) -> str | None:
    """Why `url`'s host must not be reached (it does not resolve, or resolves to a non-public
    address), or None. Only a verdict for a person: a connection must go through `GuardedTransport`,
    which connects to the very address it checked."""
    try:
        await resolve_checked(url, resolver=resolver)
    except BlockedAddress as exc:
        return str(exc)
    return None


class GuardedTransport(httpx.AsyncBaseTransport):
    """Sends each request to an address checked for it, so an address from outside cannot make us
    read the metadata service or an internal admin page (server-side request forgery).

    With `allow_private` (tests, development, on-premises model servers) inner addresses pass the
    check, except link-local and cloud metadata ones, and the request still goes to the address
    resolved once.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        allow_private: bool = False,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.inner = inner or PerNamePools()
        self.allow_private = allow_private
        self.resolver = resolver

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            addresses = await resolve_checked(request.url, resolver=self.resolver, allow_private=self.allow_private)
        except BlockedAddress as exc:
            raise type(exc)(str(exc), request=request) from exc
        return await self.inner.handle_async_request(pinned(request, addresses[0]))

    async def aclose(self) -> None:
        await self.inner.aclose()


def pinned(request: httpx.Request, address: IPAddress) -> httpx.Request:
    """A copy of `request` addressed to `address`, keeping its Host header and, over TLS, its server
    name (httpcore's `sni_hostname` extension), so the certificate is still checked against the name."""
    host = request.url.raw_host.decode("ascii").strip("[]")
    if host == str(address):
        return request
    extensions = dict(request.extensions)
    if request.url.scheme == "https":
        extensions.setdefault("sni_hostname", host)
    headers = request.headers.copy()
    if "host" not in headers:
        headers["Host"] = request.url.netloc.decode("ascii")
    return httpx.Request(
        request.method,
        request.url.copy_with(host=str(address)),
        headers=headers,
        stream=request.stream,
        extensions=extensions,
    )


@dataclass
class _Pool:
    transport: httpx.AsyncBaseTransport
    active: int = 0
    idle_since: float = 0.0


class PerNamePools(httpx.AsyncBaseTransport):
    """The transport under `GuardedTransport`: one connection pool per name a request is pinned for.

    A pinned request names the address, and a pool keys its connections by address: one pool for
    all names would send a request for b.example over a TLS connection verified for a.example
    when both resolve to the same address (one CDN address, or a poisoned answer). A pool unused
    for `idle_s` (how long httpx keeps an idle connection) is closed.
    """

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        idle_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        make: Callable[[ssl.SSLContext], httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self._ssl = httpx.create_ssl_context(verify)  # once: loading the CA bundle is slow
        self._make = make or (lambda context: httpx.AsyncHTTPTransport(verify=context))
        self.idle_s = idle_s
        self.clock = clock
        self._pools: dict[str, _Pool] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._close_idle()
        name = request.headers.get("host") or request.url.netloc.decode("ascii")
        pool = self._pools.get(name)
        if pool is None:
            pool = self._pools[name] = _Pool(self._make(self._ssl))
        pool.active += 1
        try:
            response = await pool.transport.handle_async_request(request)
        except BaseException:
            self._release(pool)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Releasing(response.stream, lambda: self._release(pool))
        return response

    def _release(self, pool: _Pool) -> None:
        pool.active -= 1
        pool.idle_since = self.clock()

    async def _close_idle(self) -> None:
        now = self.clock()
        idle = [n for n, p in self._pools.items() if p.active <= 0 and now - p.idle_since > self.idle_s]
        # All taken out before the first await, so a request arriving meanwhile makes a new pool
        # rather than take one that is being closed.
        closing = [self._pools.pop(name) for name in idle]
        for pool in closing:
            await pool.transport.aclose()

    @property
    def names(self) -> int:
        """How many names have a pool now."""
        return len(self._pools)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.transport.aclose()


class _Releasing(httpx.AsyncByteStream):
    """A response body that gives its pool back once, when it is closed."""

    def __init__(self, inner: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self.inner = inner
        self.release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            yield chunk

    async def aclose(self) -> None:
        release, self.release = self.release, None
        try:
            await self.inner.aclose()
        finally:
            if release is not None:
                release()
