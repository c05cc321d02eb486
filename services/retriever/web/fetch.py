"""Fetching one page politely and within bounds.

Before a request: an http(s) URL, a public address (unless private ones are allowed), and
robots.txt's leave. During it: connect / read timeouts and a deadline for the whole page, a
content-type allow-list checked on the headers, a size cap enforced while streaming (the body
is dropped, not truncated, past it), and at most a few redirects, each hop checked again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin, urlsplit

import httpx

from quarry_runtime.http import decoded_chunks
from quarry_security.egress import BlockedAddress
from services.retriever.domain.errors import RetrieverError
from services.retriever.domain.urls import canonical_url
from services.retriever.web.extract import MEDIA_TYPES, PageKind
from services.retriever.web.robots import RobotsRules

RefusalKind = Literal[
    "url", "address", "robots", "redirects", "off_host", "status", "content_type", "too_large", "timeout", "network"
]
_BEFORE_ANY_REQUEST: frozenset[RefusalKind] = frozenset({"url", "address", "robots"})


class FetchRefused(RetrieverError):
    """The page was not fetched (or not kept); `kind` says why in one word, the message in full."""

    def __init__(self, kind: RefusalKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def requested(self) -> bool:
        """Whether a request for the page itself went out (and so counts as a fetch)."""
        return self.kind not in _BEFORE_ANY_REQUEST


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    page_timeout_s: float = 20.0
    max_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str
    """Canonical URL the body came from, after redirects."""
    kind: PageKind
    body: bytes
    charset: str | None = None


class PageFetcher:
    """GETs pages for extraction. The client belongs to the caller (it should carry a
    `GuardedTransport`); robots rules are read through the same client."""

    def __init__(self, http: httpx.AsyncClient, robots: RobotsRules, limits: FetchLimits | None = None) -> None:
        self.http = http
        self.robots = robots
        self.limits = limits or FetchLimits()
        self._timeout = httpx.Timeout(
            connect=self.limits.connect_timeout_s,
            read=self.limits.read_timeout_s,
            write=self.limits.read_timeout_s,
            pool=self.limits.connect_timeout_s,
        )

    async def fetch(self, url: str, *, host: str | None = None) -> FetchedPage:
        """The page at `url`, or `FetchRefused` saying why not. With `host`, a redirect to any
        other host is refused before it is followed: policy allowed fetching from that host only."""
        try:
            current = canonical_url(url)
        except ValueError as exc:
            raise FetchRefused("url", str(exc)) from exc
        try:
            async with asyncio.timeout(self.limits.page_timeout_s):
                return await self._follow(current, host)
        except TimeoutError as exc:
            raise FetchRefused("timeout", f"{url}: no complete answer within {self.limits.page_timeout_s:g}s") from exc
        except httpx.TimeoutException as exc:
            raise FetchRefused("timeout", f"{url}: {type(exc).__name__}") from exc
        except BlockedAddress as exc:
            raise FetchRefused("address", str(exc)) from exc
        except (httpx.InvalidURL, UnicodeError) as exc:  # a host httpx cannot spell ("0177.0.0.1", "xn--")
            raise FetchRefused("url", f"{url}: cannot be requested: {exc}") from exc
        except httpx.HTTPError as exc:
            raise FetchRefused("network", f"{url}: {type(exc).__name__}: {exc}") from exc

    async def _follow(self, url: str, host: str | None) -> FetchedPage:
        for _hop in range(self.limits.max_redirects + 1):
            if host is not None and urlsplit(url).hostname != host:
                raise FetchRefused("off_host", f"{url}: not on {host}, the host this fetch was allowed")
            if not await self.robots.allowed(url):
                raise FetchRefused("robots", f"{url}: disallowed by robots.txt")
            async with self.http.stream("GET", url, timeout=self._timeout, follow_redirects=False) as response:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    try:
                        url = canonical_url(urljoin(url, location))
                    except ValueError as exc:
                        raise FetchRefused("url", f"{url}: redirect to {location!r}: {exc}") from exc
                    continue
                return await self._read(url, response)
        raise FetchRefused("redirects", f"{url}: more than {self.limits.max_redirects} redirects")

    async def _read(self, url: str, response: httpx.Response) -> FetchedPage:
        if response.status_code != 200:
            raise FetchRefused("status", f"{url}: HTTP {response.status_code}")
        media_type, charset = _content_type(response.headers.get("content-type", ""))
        kind = MEDIA_TYPES.get(media_type)
        if kind is None:
            raise FetchRefused("content_type", f"{url}: content type {media_type or 'unknown'!r} is not fetched")
        cap = self.limits.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchRefused("too_large", f"{url}: {declared} bytes declared, more than {cap}")
        body = bytearray()
        async for chunk in decoded_chunks(response):  # unpacked a piece at a time: a gzip bomb stops at the cap
            body += chunk
            if len(body) > cap:
                raise FetchRefused("too_large", f"{url}: more than {cap} bytes")
        return FetchedPage(url=url, kind=kind, body=bytes(body), charset=charset)


def _content_type(header: str) -> tuple[str, str | None]:
    """Media type (lower case, no parameters) and charset of a Content-Type header."""
    media_type, *params = header.split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media_type.strip().lower(), charset
