"""The NATS connection of one service: faststream's broker, reconnecting for as long as it takes.

A service connects as its own NATS user (from the settings, or the addresses' `user:pass@`), over
TLS when a CA is given, and receives replies and JetStream deliveries on inboxes under its own
prefix, the only ones that user may subscribe to (quarry_security.natsauth).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from faststream.nats import NatsBroker
from faststream.nats.security import NatsSecurity, NatsUserPassword

log = logging.getLogger(__name__)

NATS_RECONNECT_ATTEMPTS = -1  # forever
NATS_RECONNECT_WAIT_S = 1
NATS_PING_INTERVAL_S = 10
NATS_MAX_OUTSTANDING_PINGS = 3


def service_broker(
    url: str, service: str, *, credentials: tuple[str, str] | None = None, tls_ca_file: Path | None = None
) -> ReconnectingBroker:
    """The (not yet connected) broker of `service` for the comma-separated server addresses `url`."""
    servers = [u.strip() for u in url.split(",") if u.strip()]
    logger = logging.getLogger(f"faststream.{service}")
    if not any(isinstance(f, QuietFetchTimeouts) for f in logger.filters):
        logger.addFilter(QuietFetchTimeouts())
    tls = ssl.create_default_context(cafile=str(tls_ca_file)) if tls_ca_file else None
    security: NatsSecurity | None = None
    # The user of the addresses is the connection's: nats-py authenticates with the options' user
    # (not the URL's) to the servers a cluster announces, and those refused us until this.
    if credentials is None and (credentials := url_credentials(servers)) is not None:
        servers = [without_credentials(server) for server in servers]
    if credentials is not None:
        security = NatsUserPassword(credentials[0], credentials[1], ssl_context=tls)
    elif tls is not None:
        security = NatsSecurity(ssl_context=tls)
    # Replies and JetStream deliveries come to inboxes under the service's own prefix, the
    # only ones its NATS user may subscribe to (quarry_security.natsauth).
    return ReconnectingBroker(
        servers,
        logger=logger,
        security=security,
        inbox_prefix=inbox_prefix(service),
        # A restarted or lost server is waited for as long as it takes (nats-py gives up
        # after 60 attempts by default and the service would stay disconnected); a dead
        # connection is noticed within ping_interval * max_outstanding_pings.
        allow_reconnect=True,
        max_reconnect_attempts=NATS_RECONNECT_ATTEMPTS,
        reconnect_time_wait=NATS_RECONNECT_WAIT_S,
        ping_interval=NATS_PING_INTERVAL_S,
        max_outstanding_pings=NATS_MAX_OUTSTANDING_PINGS,
        # A subscriber takes one typed argument, which the bus decodes itself: fast_depends'
        # per-message signature resolution would only cost time (about a third of faststream's part).
        apply_types=False,
    )


class QuietFetchTimeouts(logging.Filter):
    """Drops faststream's supervisor report of a pull consumer's fetch that timed out.

    A fetch that finds nothing within its timeout can end the consume task with a TimeoutError
    (when the wait is cut short as the subscriber starts or stops); faststream restarts the task
    and logs an ERROR with a traceback per process, which reads like a failure in every
    service's log. Anything else the supervisor reports still gets through.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, TimeoutError) and "raised an exception, retrying" in record.getMessage())


class ReconnectingBroker(NatsBroker):
    """faststream's NATS broker, except that no error ends the client's reconnecting.

    faststream re-raises some errors the server sends (an authorization violation or time-out, a
    stale connection, too many connections) from nats-py's error callback, so that a first
    connection with wrong credentials fails at once. Raised while reconnecting, the error ends
    nats-py's reconnect task instead: the client then stays disconnected for good, its service
    alive and deaf. Once connected, such an error is a server restarting, overloaded, or not yet
    given its users, so it is logged and the next server tried, as nats-py would.
    """

    def _log_connection_broken(self, error_cb: Any = None) -> Any:
        faststreams = super()._log_connection_broken(error_cb)

        async def on_error(err: Exception) -> None:
            try:
                await faststreams(err)
            except Exception:
                if self._connection is None:
                    raise  # the first connection: fail fast, as faststream means to
                log.warning("a NATS server refused to reconnect us (%s); trying again", err)

        return on_error


def url_credentials(servers: Sequence[str]) -> tuple[str, str] | None:
    """The user and password the servers' addresses carry (`nats://user:pass@host:port`), if any."""
    for server in servers:
        parts = urlsplit(server if "://" in server else f"nats://{server}")
        if parts.username is not None and parts.password is not None:
            return unquote(parts.username), unquote(parts.password)
    return None


def without_credentials(server: str) -> str:
    parts = urlsplit(server if "://" in server else f"nats://{server}")
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


async def unsubscribe_all(subscriptions: Iterable[Any]) -> None:
    """End each NATS subscription, those whose connection is gone already too."""
    for sub in subscriptions:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


def inbox_prefix(service: str) -> str:
    """The prefix of a service's reply and delivery subjects, where no other service may listen."""
    return f"_INBOX_{service}"
