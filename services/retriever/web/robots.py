"""robots.txt, honoured before any page is fetched: read once per origin and kept for a while.

Unavailable rules (a 4xx answer) allow everything and unreachable ones (5xx, network failure,
timeout) forbid everything for a short while, as RFC 9309 says. Redirects are followed, as the
RFC asks, through the same guarded client as the pages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.robotparser import RobotFileParser

import httpx

from quarry_runtime.http import decoded_chunks
from quarry_security.egress import BlockedAddress
from services.retriever.domain.urls import origin

log = logging.getLogger(__name__)

MAX_ROBOTS_BYTES = 512 * 1024  # the RFC's floor for what a crawler must parse
_NOTHING_ALLOWED = ["User-agent: *", "Disallow: /"]


@dataclass
class _Entry:
    parser: RobotFileParser
    expires: float


class RobotsRules:
    """Whether our user agent may fetch a URL, by its origin's robots.txt (cached per origin)."""

    # How long an origin's rules are kept; rules that could not be read forbid everything, and
    # only for a short while.
    ttl_s = 3600.0
    unreachable_ttl_s = 60.0
    max_origins = 1024

    def __init__(
        self, http: httpx.AsyncClient, user_agent: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.http = http
        self.user_agent = user_agent
        self.clock = clock
        self.fetches = 0
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def allowed(self, url: str) -> bool:
        """Whether `url` (canonical) may be fetched."""
        return (await self._rules(origin(url))).can_fetch(self.user_agent, url)

    async def _rules(self, site: str) -> RobotFileParser:
        entry = self._cached(site)
        if entry is not None:
            return entry
        # Pages of one site fetched together wait for one read of its robots.txt.
        lock = self._locks.setdefault(site, asyncio.Lock())
        async with lock:
            entry = self._cached(site)
            if entry is None:
                entry, ttl = await self._read(site)
                self._cache[site] = _Entry(entry, self.clock() + ttl)
                while len(self._cache) > self.max_origins:
                    self._cache.popitem(last=False)
        if not lock.locked():
            self._locks.pop(site, None)
        return entry

    def _cached(self, site: str) -> RobotFileParser | None:
        entry = self._cache.get(site)
        if entry is None or entry.expires <= self.clock():
            return None
        self._cache.move_to_end(site)
        return entry.parser

    async def _read(self, site: str) -> tuple[RobotFileParser, float]:
        parser = RobotFileParser(site + "/robots.txt")
        self.fetches += 1
        try:
            async with self.http.stream("GET", site + "/robots.txt", follow_redirects=True) as response:
                if response.status_code >= 500:
                    log.info(
                        "robots.txt of %s unreachable (HTTP %d): nothing fetched there for now",
                        site,
                        response.status_code,
                    )
                    parser.parse(_NOTHING_ALLOWED)
                    return parser, self.unreachable_ttl_s
                if response.status_code >= 400:
                    parser.parse([])  # no rules: everything allowed
                    return parser, self.ttl_s
                body = bytearray()
                async for chunk in decoded_chunks(response):
                    body += chunk
                    if len(body) >= MAX_ROBOTS_BYTES:
                        break  # parse what fits, as the RFC allows
        except BlockedAddress:
            raise  # not a site without rules: a site we must not reach at all
        except (httpx.HTTPError, OSError) as exc:
            log.info("robots.txt of %s unreachable (%s): nothing fetched there for now", site, type(exc).__name__)
            parser.parse(_NOTHING_ALLOWED)
            return parser, self.unreachable_ttl_s
        parser.parse(bytes(body[:MAX_ROBOTS_BYTES]).decode("utf-8", errors="replace").splitlines())
        return parser, self.ttl_s
