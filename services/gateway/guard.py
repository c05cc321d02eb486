"""Abuse limits of the routes that take a secret: log-in, sign-up, invite acceptance, API keys.

Each try at a password costs an argon2id hash (64 MiB, tens of milliseconds), so an anonymous
client could otherwise guess passwords without end or exhaust the gateway's memory. Windows:

* per address, every log-in, sign-up and acceptance attempt, and every API key that fails;
* per address, sign-ups a day;
* per account (its email, known or not, so a lock tells nothing about whether it exists), the
  wrong passwords within `login_failure_window_s` and within a day: a guesser is locked out
  for longer the longer they go on, the owner's right password clears the short window.

The counters live in a `SlidingWindowLimiter` whose store every replica shares (a JetStream
key-value bucket), so several replicas do not multiply the limits. Hashing runs behind a
semaphore: at most `password_hash_concurrency` at once per replica; a caller who cannot get a
turn within `password_hash_wait_s` gets a 503 with Retry-After rather than a queue that grows
without bound.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from quarry_security.ratelimit import LimiterBusy, LimiterUnavailable, SlidingWindowLimiter, store_key
from services.gateway.errors import TooManyRequests, Unavailable
from services.gateway.security import burn_password_check, hash_password, verify_password
from services.gateway.settings import GatewaySettings

MINUTE: Final = 60.0
DAY: Final = 86_400.0
# Callers that may wait for a hashing turn, per turn: beyond them a caller is refused at once,
# so a flood holds a bounded number of waiting requests.
WAITING_PER_TURN: Final = 8
T = TypeVar("T")


class AuthGuard:
    def __init__(self, settings: GatewaySettings, limiter: SlidingWindowLimiter) -> None:
        self.settings = settings
        self.limiter = limiter
        self._hashing = asyncio.Semaphore(settings.password_hash_concurrency)
        self._waiting = 0
        self._most_waiting = settings.password_hash_concurrency * WAITING_PER_TURN

    # -- per address -------------------------------------------------------------------------

    async def attempt(self, address: str) -> None:
        """Count one log-in, sign-up or acceptance attempt from the address; 429 past the limit."""
        attempts, _ = self.settings.ip_limits()
        await self._hit("auth-ip", source(address), attempts, MINUTE, "too many attempts from this address")

    async def signup(self, address: str) -> None:
        _, signups = self.settings.ip_limits()
        await self._hit("signup-ip", source(address), signups, DAY, "too many sign-ups from this address today")

    async def api_key_allowed(self, address: str) -> None:
        """429 when the address has used up its attempts (bad API keys count among them)."""
        attempts, _ = self.settings.ip_limits()
        wait = await self._safely(self.limiter.peek(store_key("auth-ip", source(address)), attempts, MINUTE))
        if wait is not None:
            raise TooManyRequests("too many failed attempts from this address", retry_after_s=wait)

    async def api_key_failed(self, address: str) -> None:
        attempts, _ = self.settings.ip_limits()
        await self._safely(self.limiter.hit(store_key("auth-ip", source(address)), attempts, MINUTE))

    # -- per account ---------------------------------------------------------------------------

    async def account_open(self, email: str) -> None:
        """429 while the account is locked by wrong passwords (checked before any password is)."""
        waits = [
            wait
            for key, limit, window in self._account_windows(email)
            if (wait := await self._safely(self.limiter.peek(key, limit, window))) is not None
        ]
        if waits:
            raise TooManyRequests(
                "too many wrong passwords for this account; try again later", retry_after_s=max(waits)
            )

    async def login_failed(self, email: str) -> None:
        for key, limit, window in self._account_windows(email):
            await self._safely(self.limiter.hit(key, limit, window))

    async def login_succeeded(self, email: str) -> None:
        key, _, _ = self._account_windows(email)[0]
        await self._safely(self.limiter.clear(key))

    def _account_windows(self, email: str) -> list[tuple[str, int, float]]:
        s = self.settings
        return [
            (store_key("login-fail", email), s.login_failures_per_account, float(s.login_failure_window_s)),
            (store_key("login-fail-day", email), s.login_failures_per_account_per_day, DAY),
        ]

    # -- password hashing ----------------------------------------------------------------------

    async def hash_password(self, password: str) -> str:
        return await self._hash(lambda: hash_password(password))

    async def verify_password(self, password_hash: str, password: str) -> bool:
        return await self._hash(lambda: verify_password(password_hash, password))

    async def burn_password_check(self, password: str) -> None:
        await self._hash(lambda: burn_password_check(password))

    async def _hash(self, work: Callable[[], T]) -> T:
        if self._hashing.locked() and self._waiting >= self._most_waiting:
            raise Unavailable("the service is busy; try again shortly", retry_after_s=1)
        self._waiting += 1
        try:
            async with asyncio.timeout(self.settings.password_hash_wait_s):
                await self._hashing.acquire()
        except TimeoutError:
            raise Unavailable("the service is busy; try again shortly", retry_after_s=1) from None
        finally:
            self._waiting -= 1
        # The turn is given back when the hash is done, not when the caller goes away: a client
        # that disconnects mid-hash must not let another hash start beside the one still running.
        task = asyncio.ensure_future(asyncio.to_thread(work))
        task.add_done_callback(lambda _: self._hashing.release())
        return await asyncio.shield(task)

    # -- the limiter -----------------------------------------------------------------------------

    async def _hit(self, kind: str, who: str, limit: int, window_s: float, why: str) -> None:
        wait = await self._safely(self.limiter.hit(store_key(kind, who), limit, window_s))
        if wait is not None:
            raise TooManyRequests(why, retry_after_s=wait)

    @staticmethod
    async def _safely(pending: Awaitable[float | None]) -> float | None:
        """The limiter's answer; a window too contended to update counts as full, and without its
        store nothing is let through unlimited (fail closed: 503)."""
        try:
            return await pending
        except LimiterBusy:
            return 1.0
        except LimiterUnavailable:
            raise Unavailable("the service is briefly unavailable; try again shortly", retry_after_s=2) from None


def source(address: str) -> str:
    """What an address's limits count against: the address, or for IPv6 its /64, which one
    subscriber usually holds whole (counting single IPv6 addresses would hand an attacker 2^64
    fresh windows)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
